package config

import (
	"fmt"
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
	for _, part := range strings.Split(s, ",") {
		r, err := ParseRate(part)
		if err == nil && r.Off() {
			err = fmt.Errorf("%q: empty or zero window in a list", s)
		}
		if err != nil {
			return nil, err
		}
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
