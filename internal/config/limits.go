package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Rate is "Count events per Period". The zero Rate is off.
type Rate struct {
	Count  int
	Period time.Duration
}

// Off reports whether the rate is disabled.
func (r Rate) Off() bool { return r.Count <= 0 }

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Count, r.Period)
}

// maxCount keeps counts where the limit scripts' arithmetic (Lua numbers,
// doubles) stays exact.
const maxCount = 1_000_000_000

// ParseRates reads "5/1m,30/1h" (or "off", "0", ""): several windows, each
// enforced. Periods are Go durations; "1d" is accepted as 24h.
func ParseRates(s string) ([]Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" || s == "0" {
		return nil, nil
	}
	var out []Rate
	seen := map[time.Duration]string{}
	for _, part := range strings.Split(s, ",") {
		r, err := ParseRate(part)
		if err == nil && r.Off() {
			err = fmt.Errorf("%q: empty or zero window in a list", s)
		}
		if err != nil {
			return nil, err
		}
		// A window's state is kept under its period in whole seconds:
		// two of one period would be one count, each taking it twice.
		sec := r.Period.Truncate(time.Second)
		if other, ok := seen[sec]; ok {
			return nil, fmt.Errorf("%q and %q share one window (periods count in whole seconds: %s); keep the smaller count",
				other, strings.TrimSpace(part), sec)
		}
		seen[sec] = strings.TrimSpace(part)
		out = append(out, r)
	}
	return out, nil
}

// ParseRate reads one "N/period".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" || s == "" {
		return Rate{}, nil
	}
	n, p, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 || count > maxCount {
		return Rate{}, fmt.Errorf("%q is not N/period like 5/1m", s)
	}
	p = strings.TrimSpace(p)
	if strings.HasSuffix(p, "d") {
		// Bounded before multiplying: a huge count of days would wrap
		// around into a small, valid-looking period.
		days, err := strconv.Atoi(strings.TrimSuffix(p, "d"))
		if err != nil || days < 1 || days > 30 {
			return Rate{}, fmt.Errorf("%q: period must be a duration from 1s to 30d", s)
		}
		p = strconv.Itoa(days*24) + "h"
	}
	d, err := time.ParseDuration(p)
	if err != nil || d < time.Second || d > 30*24*time.Hour {
		return Rate{}, fmt.Errorf("%q: period must be a duration from 1s to 30d", s)
	}
	return Rate{Count: count, Period: d}, nil
}

// ParseCountryBudgets reads "US=600,GB=100,*=60": SMS per minute per
// country (ISO 3166 region); "*" is every country not named.
func ParseCountryBudgets(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	regions := phonenumbers.GetSupportedRegions()
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 || (k != "*" && !regions[k]) {
			return nil, fmt.Errorf("%q is not REGION=N (ISO code or *, N per minute)", part)
		}
		out[k] = n
	}
	return out, nil
}

// ParseCountries reads "US,CA,GB". "*" alone is every country, the same as
// an empty list, but said on purpose (production requires one or the other).
func ParseCountries(s string) (map[string]bool, error) {
	out := map[string]bool{}
	if s = strings.TrimSpace(s); s == "" || s == "*" {
		return out, nil
	}
	regions := phonenumbers.GetSupportedRegions()
	var bad []string
	for _, part := range strings.Split(s, ",") {
		k := strings.ToUpper(strings.TrimSpace(part))
		if !regions[k] {
			bad = append(bad, part)
			continue
		}
		out[k] = true
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown ISO 3166 region(s) %q", bad)
	}
	return out, nil
}

// Limits are the fraud controls (docs/fraud.md).
type Limits struct {
	ToSend         Rate   // TO_SEND_LIMIT: sends per number across verifications (rolling)
	FailedChecks   Rate   // FAILED_CHECK_LIMIT: wrong codes per number across verifications
	ClientIPSends  []Rate // sends per end-user IP, when the caller passes clientIp
	ClientIPChecks []Rate // wrong codes per end-user IP
	APIKeySends    []Rate // sends per API key
	APIKeyWrites   []Rate // other write requests per API key: cancels, checks, fraud list changes
	// APIKeyIdempotencyKeys caps the Idempotency-Key answers one API key
	// keeps at once (0: no cap).
	APIKeyIdempotencyKeys int
	PrefixSends           []Rate // sends per number prefix (pumping of ranges)
	PrefixDigits          int    // how many trailing digits a prefix drops
	// BudgetPerMinute caps SMS per minute in total (0 off), CountryBudgets
	// per region ("*" the rest), CallBudgetPerMinute calls on top.
	BudgetPerMinute     int
	CountryBudgets      map[string]int
	CallBudgetPerMinute int
	AllowedCountries    map[string]bool // empty: all (ALLOWED_COUNTRIES unset or "*")
	RejectNonMobile     bool
}

func (e *env) limits() Limits {
	l := Limits{
		ToSend:         e.rate("TO_SEND_LIMIT", "10/24h"),
		FailedChecks:   e.rate("FAILED_CHECK_LIMIT", "100/24h"),
		ClientIPSends:  e.rates("CLIENT_IP_SEND_LIMITS", "5/1m,30/1h"),
		ClientIPChecks: e.rates("CLIENT_IP_CHECK_LIMITS", "20/1m,100/1h"),
		// A key is one backend; 300 a minute is a large signup flow, and a
		// leaked key then costs at most 432,000 SMS a day, not 1.4 million.
		APIKeySends: e.rates("API_KEY_SEND_LIMITS", "20/1s,300/1m"),
		// Three times the sends: a check or two per code, and cancels, with
		// room to spare; a leaked key or a loop cannot run (or keep
		// Idempotency-Key answers for) 1,400 cancels a second.
		APIKeyWrites: e.rates("API_KEY_WRITE_LIMITS", "60/1s,1000/1m"),
		// An answer is kept 24 h, about 700 bytes: 70 MB at most per key.
		// A backend averaging 70 keyed starts a minute all day reaches it
		// (the Go client keys every start and cancel); a leaked key or a
		// loop stops there.
		APIKeyIdempotencyKeys: e.integer("API_KEY_IDEMPOTENCY_KEYS", 100_000, 0, 10_000_000),
		PrefixSends:           e.rates("PREFIX_SEND_LIMITS", "30/10m"),
		PrefixDigits:          e.integer("PREFIX_DIGITS", 3, 1, 6),
		BudgetPerMinute:       e.integer("SMS_BUDGET_PER_MINUTE", 0, 0, 10_000_000),
		CallBudgetPerMinute:   e.integer("CALL_BUDGET_PER_MINUTE", 0, 0, 1_000_000),
		AllowedCountries:      e.countries("ALLOWED_COUNTRIES"),
		RejectNonMobile:       e.boolean("REJECT_NON_MOBILE", false),
	}
	b, err := ParseCountryBudgets(e.get("SMS_COUNTRY_BUDGETS"))
	if err != nil {
		e.bad("SMS_COUNTRY_BUDGETS", "%v", err)
	}
	l.CountryBudgets = b
	return l
}

func (l Limits) attrs() []slog.Attr {
	return []slog.Attr{slog.String("to_send_limit", l.ToSend.String()), slog.String("failed_check_limit", l.FailedChecks.String()),
		slog.Any("client_ip_send_limits", l.ClientIPSends), slog.Any("client_ip_check_limits", l.ClientIPChecks),
		slog.Any("api_key_send_limits", l.APIKeySends), slog.Any("api_key_write_limits", l.APIKeyWrites),
		slog.Int("api_key_idempotency_keys", l.APIKeyIdempotencyKeys),
		slog.Any("prefix_send_limits", l.PrefixSends),
		slog.Int("sms_budget_per_minute", l.BudgetPerMinute), slog.Any("sms_country_budgets", l.CountryBudgets),
		slog.Int("allowed_countries", len(l.AllowedCountries)), slog.Bool("reject_non_mobile", l.RejectNonMobile),
		slog.Int("call_budget_per_minute", l.CallBudgetPerMinute)}
}
