package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/otpd/otpd/internal/config"
)

func TestParseRates(t *testing.T) {
	for in, want := range map[string][]config.Rate{
		"":            nil,
		"off":         nil,
		"0":           nil,
		"5/1m":        {{5, time.Minute}},
		"5/1m, 30/1h": {{5, time.Minute}, {30, time.Hour}},
		"100/1d":      {{100, 24 * time.Hour}},
	} {
		got, err := config.ParseRates(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("ParseRates(%q) = %v, %v", in, got, err)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ParseRates(%q)[%d] = %v", in, i, got[i])
			}
		}
	}
	for _, bad := range []string{"5", "x/1m", "-1/1m", "5/", "5/100ms", "5/60d", "5/1m,", "5/1m;6/1h",
		// Huge values must be refused, not wrap around into a valid period.
		"1/9223372036854775807d", "1/384307168202282326d", "1/768614336404564651d", "1/0d", "1/-1d",
		"1/99999999999999999h", "2000000000/1m",
		// Two windows of one period would share one count.
		"5/1m,10/60s", "5/1s,6/1500ms"} {
		if _, err := config.ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
}

func TestParseCountryBudgetsAndCountries(t *testing.T) {
	b, err := config.ParseCountryBudgets("US=600, gb=100,*=0")
	if err != nil || b["US"] != 600 || b["GB"] != 100 || b["*"] != 0 || len(b) != 3 {
		t.Fatalf("%v %v", b, err)
	}
	for _, bad := range []string{"US", "XX=1", "US=-1", "US=x"} {
		if _, err := config.ParseCountryBudgets(bad); err == nil {
			t.Errorf("ParseCountryBudgets(%q) accepted", bad)
		}
	}
	c, err := config.ParseCountries("us, CA,GB")
	if err != nil || !c["US"] || !c["CA"] || !c["GB"] || len(c) != 3 {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := config.ParseCountries("US,XX,Narnia"); err == nil || !strings.Contains(err.Error(), "Narnia") {
		t.Fatalf("unknown regions: %v", err)
	}
}

func TestFraudSettingsInLoad(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Limits{
		ToSend: config.Rate{Count: 10, Period: 24 * time.Hour}, FailedChecks: config.Rate{Count: 100, Period: 24 * time.Hour},
		ClientIPSends:         []config.Rate{{Count: 5, Period: time.Minute}, {Count: 30, Period: time.Hour}},
		ClientIPChecks:        []config.Rate{{Count: 20, Period: time.Minute}, {Count: 100, Period: time.Hour}},
		APIKeySends:           []config.Rate{{Count: 20, Period: time.Second}, {Count: 300, Period: time.Minute}},
		APIKeyWrites:          []config.Rate{{Count: 60, Period: time.Second}, {Count: 1000, Period: time.Minute}},
		APIKeyIdempotencyKeys: 100_000,
		PrefixSends:           []config.Rate{{Count: 30, Period: 10 * time.Minute}},
		PrefixDigits:          3, CountryBudgets: map[string]int{}, AllowedCountries: map[string]bool{},
	}
	if diff := cmp.Diff(want, c.Limits); diff != "" {
		t.Fatalf("default limits (-want +got):\n%s", diff)
	}
	_, err = config.Load(env(map[string]string{
		"TO_SEND_LIMIT": "lots", "CLIENT_IP_SEND_LIMITS": "5/forever", "SMS_COUNTRY_BUDGETS": "ZZ=1",
		"ALLOWED_COUNTRIES": "XX", "REJECT_NON_MOBILE": "maybe", "PREFIX_DIGITS": "9", "API_KEY_WRITE_LIMITS": "60",
		"API_KEY_IDEMPOTENCY_KEYS": "-1",
	}))
	for _, name := range []string{"TO_SEND_LIMIT", "CLIENT_IP_SEND_LIMITS", "SMS_COUNTRY_BUDGETS", "ALLOWED_COUNTRIES", "REJECT_NON_MOBILE", "PREFIX_DIGITS",
		"API_KEY_WRITE_LIMITS", "API_KEY_IDEMPOTENCY_KEYS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	c, err = config.Load(env(map[string]string{"TO_SEND_LIMIT": "off", "CLIENT_IP_SEND_LIMITS": "off", "REJECT_NON_MOBILE": "true",
		"API_KEY_WRITE_LIMITS": "off", "API_KEY_IDEMPOTENCY_KEYS": "0"}))
	if err != nil || !c.Limits.ToSend.Off() || c.Limits.ClientIPSends != nil || !c.Limits.RejectNonMobile || c.Limits.APIKeyWrites != nil ||
		c.Limits.APIKeyIdempotencyKeys != 0 {
		t.Fatalf("%+v %v", c, err)
	}
	if c.Limits.APIKeySends[0] != (config.Rate{20, time.Second}) || c.Limits.APIKeySends[1] != (config.Rate{300, time.Minute}) {
		t.Fatalf("default API_KEY_SEND_LIMITS %v", c.Limits.APIKeySends)
	}
}
