package config

import (
	"log/slog"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Codes is a verification's lifecycle: its secret, its code, how long it
// lives and how often it may be sent and checked.
type Codes struct {
	Secret        []byte        // OTP_SECRET
	TTL           time.Duration // OTP_TTL
	Length        int           // OTP_CODE_LENGTH
	MaxChecks     int           // OTP_MAX_CHECKS
	MaxSends      int           // OTP_MAX_SENDS
	Cooldown      time.Duration // OTP_RESEND_COOLDOWN
	Retention     time.Duration // OTP_RETENTION
	DefaultRegion string        // DEFAULT_REGION
}

func (e *env) codes() Codes {
	c := Codes{
		TTL:           e.dur("OTP_TTL", "10m", 5*time.Second, 24*time.Hour),
		Length:        e.integer("OTP_CODE_LENGTH", 6, 4, 10),
		MaxChecks:     e.integer("OTP_MAX_CHECKS", 5, 1, 100),
		MaxSends:      e.integer("OTP_MAX_SENDS", 5, 1, 100),
		Cooldown:      e.dur("OTP_RESEND_COOLDOWN", "30s", 0, time.Hour),
		Retention:     e.dur("OTP_RETENTION", "24h", time.Minute, 30*24*time.Hour),
		DefaultRegion: strings.ToUpper(e.str("DEFAULT_REGION", "US")),
	}
	if s := e.get("OTP_SECRET"); s != "" {
		c.Secret = []byte(s)
		if len(s) < 32 {
			e.bad("OTP_SECRET", "must be at least 32 bytes (got %d)", len(s))
		}
	}
	if !phonenumbers.GetSupportedRegions()[c.DefaultRegion] {
		e.bad("DEFAULT_REGION", "%q is not an ISO 3166 region libphonenumber knows", c.DefaultRegion)
	}
	return c
}

func (c Codes) attrs() []slog.Attr {
	return []slog.Attr{slog.String("otp_secret", mask(string(c.Secret))), slog.String("otp_ttl", c.TTL.String()),
		slog.Int("otp_code_length", c.Length), slog.Int("otp_max_checks", c.MaxChecks),
		slog.Int("otp_max_sends", c.MaxSends), slog.String("otp_resend_cooldown", c.Cooldown.String())}
}
