package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/otp"
)

func TestFraudGuardSettings(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Fraud{
		Mode: otp.FraudOn, Window: time.Hour, Grace: 2 * time.Minute, MinSends: 20, CountryMinSends: 200,
		MinConversion: 0.2, BlockTTL: 12 * time.Hour,
		BlockedNumberTypes: map[otp.NumberType]bool{"premium_rate": true, "shared_cost": true, "uan": true, "pager": true,
			"voicemail": true, "personal_number": true, "toll_free": true},
	}
	if diff := cmp.Diff(want, c.Fraud); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	c, err = config.Load(env(map[string]string{"FRAUD_GUARD": "shadow", "BLOCKED_NUMBER_TYPES": "none",
		"FRAUD_SAFE_LIST": "+14155550100, +4420", "FRAUD_MIN_CONVERSION": "1", "FRAUD_GRACE": "1s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Fraud.Mode != otp.FraudShadow || len(c.Fraud.BlockedNumberTypes) != 0 || c.Fraud.MinConversion != 1 ||
		!cmp.Equal(c.Fraud.SafeList, otp.SafeList{"+14155550100", "+4420"}) || c.Fraud.Grace != time.Second {
		t.Fatalf("%+v", c.Fraud)
	}
}

// Every bad fraud setting is reported, together, naming its variable.
func TestFraudGuardSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"FRAUD_GUARD": "maybe", "FRAUD_MIN_CONVERSION": "0", "FRAUD_MIN_SENDS": "0",
			"FRAUD_COUNTRY_MIN_SENDS": "x", "BLOCKED_NUMBER_TYPES": "premium_rate,satellite"},
			[]string{"FRAUD_GUARD", "FRAUD_MIN_CONVERSION", "FRAUD_MIN_SENDS", "FRAUD_COUNTRY_MIN_SENDS", "BLOCKED_NUMBER_TYPES", "satellite"}},
		{map[string]string{"FRAUD_GRACE": "500ms", "FRAUD_WINDOW": "30s", "FRAUD_BLOCK_TTL": "0s", "FRAUD_SAFE_LIST": "+1,44,+0"},
			[]string{"FRAUD_GRACE", "FRAUD_WINDOW", "FRAUD_BLOCK_TTL", `"44"`, `"+0"`}},
		{map[string]string{"FRAUD_GRACE": "1h", "FRAUD_WINDOW": "1h"}, []string{"FRAUD_GRACE"}},
		{map[string]string{"FRAUD_MIN_CONVERSION": "1.01"}, []string{"FRAUD_MIN_CONVERSION"}},
	} {
		_, err := config.Load(env(tc.vars))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error does not name %s: %v", tc.vars, w, err)
			}
		}
	}
}
