package config

import (
	"github.com/otpd/otpd/internal/ratelimit"
	"github.com/otpd/otpd/otp"
)

// Policy is the lifecycle's rules, as the otp package takes them.
func (cfg Config) Policy() otp.Policy {
	return otp.Policy{
		TTL: cfg.Codes.TTL, Retention: cfg.Codes.Retention, Cooldown: cfg.Codes.Cooldown,
		MaxSends: cfg.Codes.MaxSends, MaxChecks: cfg.Codes.MaxChecks, DefaultRegion: cfg.Codes.DefaultRegion,
		SendCap:               otp.Window{Count: cfg.Limits.ToSend.Count, Period: cfg.Limits.ToSend.Period},
		FailureLock:           otp.Window{Count: cfg.Limits.FailedChecks.Count, Period: cfg.Limits.FailedChecks.Period},
		PrefixDigits:          cfg.Limits.PrefixDigits,
		AllowedCountries:      cfg.Limits.AllowedCountries,
		RejectNonMobile:       cfg.Limits.RejectNonMobile,
		Channels:              cfg.Channels.Enabled,
		VoiceAllowedCountries: cfg.Channels.VoiceAllowedCountries,
		Brands:                brands(cfg),
		Workflow:              cfg.Channels.Workflow,
		ChannelTimeout:        cfg.Channels.Timeout,
	}
}

// brands are the brands a request may name: OTP_BRANDS, and OTP_BRAND.
func brands(cfg Config) map[string]bool {
	out := map[string]bool{cfg.Messages.Brand: true}
	for _, b := range cfg.Messages.Brands {
		out[b] = true
	}
	return out
}

// RateLimits is the cross-number limits, as the ratelimit package takes them.
func (cfg Config) RateLimits() ratelimit.Config {
	rates := func(rs []Rate) []ratelimit.Rate {
		out := make([]ratelimit.Rate, len(rs))
		for i, r := range rs {
			out[i] = ratelimit.Rate{Count: r.Count, Period: r.Period}
		}
		return out
	}
	l := cfg.Limits
	return ratelimit.Config{
		ClientIPSends: rates(l.ClientIPSends), ClientIPChecks: rates(l.ClientIPChecks),
		APIKeySends: rates(l.APIKeySends), PrefixSends: rates(l.PrefixSends),
		BudgetPerMinute: l.BudgetPerMinute, CountryBudgets: l.CountryBudgets,
		CallBudgetPerMinute: l.CallBudgetPerMinute,
	}
}
