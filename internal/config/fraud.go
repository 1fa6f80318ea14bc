package config

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/otp"
)

// Fraud is the fraud guard and the number types that never get a code
// (docs/fraud.md).
type Fraud struct {
	Mode otp.FraudMode // FRAUD_GUARD: on, shadow or off
	// Window is the rolling window counted (FRAUD_WINDOW); a verification
	// is judged once Grace has passed since its first send (FRAUD_GRACE).
	Window, Grace time.Duration
	// A range with MinSends judged verifications (a country:
	// CountryMinSends), fewer than MinConversion of them approved, is
	// blocked for BlockTTL.
	MinSends, CountryMinSends int
	MinConversion             float64
	BlockTTL                  time.Duration
	SafeList                  otp.SafeList // FRAUD_SAFE_LIST
	// BlockedNumberTypes never get a code (BLOCKED_NUMBER_TYPES).
	BlockedNumberTypes map[otp.NumberType]bool
}

// DefaultBlockedNumberTypes are the types that no signup needs a code on,
// and that SMS pumping and toll fraud live on.
const DefaultBlockedNumberTypes = "premium_rate,shared_cost,uan,pager,voicemail,personal_number,toll_free"

func (e *env) fraud() Fraud {
	f := Fraud{
		Window:          e.dur("FRAUD_WINDOW", "1h", time.Minute, 7*24*time.Hour),
		Grace:           e.dur("FRAUD_GRACE", "2m", time.Second, 24*time.Hour),
		MinSends:        e.integer("FRAUD_MIN_SENDS", 20, 1, 1_000_000),
		CountryMinSends: e.integer("FRAUD_COUNTRY_MIN_SENDS", 200, 1, maxCount),
		BlockTTL:        e.dur("FRAUD_BLOCK_TTL", "12h", time.Second, 30*24*time.Hour),
	}
	mode, ok := otp.ParseFraudMode(strings.ToLower(e.str("FRAUD_GUARD", string(otp.FraudOn))))
	if !ok {
		e.bad("FRAUD_GUARD", "%q is not on, shadow or off", e.raw("FRAUD_GUARD"))
	}
	f.Mode = mode
	if f.Grace >= f.Window && f.Window > 0 {
		e.bad("FRAUD_GRACE", "(%s) must be shorter than FRAUD_WINDOW (%s): nothing would be judged", f.Grace, f.Window)
	}
	raw := e.str("FRAUD_MIN_CONVERSION", "0.2")
	c, err := strconv.ParseFloat(raw, 64)
	if err != nil || !(c > 0 && c <= 1) {
		e.bad("FRAUD_MIN_CONVERSION", "%q is not a share above 0 and at most 1", raw)
	}
	f.MinConversion = c
	for _, part := range strings.Split(e.raw("FRAUD_SAFE_LIST"), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		entry, err := otp.ParseSafeEntry(part)
		if err != nil {
			e.bad("FRAUD_SAFE_LIST", "%v", err)
			continue
		}
		f.SafeList = append(f.SafeList, entry)
	}
	types, err := otp.ParseNumberTypes(e.str("BLOCKED_NUMBER_TYPES", DefaultBlockedNumberTypes))
	if err != nil {
		e.bad("BLOCKED_NUMBER_TYPES", "%v", err)
	}
	f.BlockedNumberTypes = types
	return f
}

func (f Fraud) attrs() []slog.Attr {
	types := make([]string, 0, len(f.BlockedNumberTypes))
	for t := range f.BlockedNumberTypes {
		types = append(types, string(t))
	}
	return []slog.Attr{slog.String("fraud_guard", string(f.Mode)), slog.String("fraud_window", f.Window.String()),
		slog.String("fraud_grace", f.Grace.String()), slog.Int("fraud_min_sends", f.MinSends),
		slog.Float64("fraud_min_conversion", f.MinConversion), slog.Int("fraud_country_min_sends", f.CountryMinSends),
		slog.String("fraud_block_ttl", f.BlockTTL.String()), slog.Int("fraud_safe_list", len(f.SafeList)),
		slog.Any("blocked_number_types", types)}
}
