package config

import (
	"github.com/otpd/otpd/internal/ratelimit"
	"github.com/otpd/otpd/otp"
)

// Policy is the lifecycle's rules, as the otp package takes them.
func (cfg Config) Policy() otp.Policy {
	return otp.Policy{
		TTL: cfg.OTPTTL, Retention: cfg.Retention, Cooldown: cfg.ResendCooldown,
		MaxSends: cfg.MaxSends, MaxChecks: cfg.MaxChecks, DefaultRegion: cfg.DefaultRegion,
		SendCap:               otp.Window{Count: cfg.ToSendLimit.Count, Period: cfg.ToSendLimit.Period},
		FailureLock:           otp.Window{Count: cfg.FailedCheckLimit.Count, Period: cfg.FailedCheckLimit.Period},
		PrefixDigits:          cfg.PrefixDigits,
		AllowedCountries:      cfg.AllowedCountries,
		RejectNonMobile:       cfg.RejectNonMobile,
		Channels:              cfg.Channels,
		VoiceAllowedCountries: cfg.VoiceAllowedCountries,
		Brands:                brands(cfg),
		Workflow:              cfg.Workflow,
		ChannelTimeout:        cfg.ChannelTimeout,
	}
}

// brands are the brands a request may name: OTP_BRANDS, and OTP_BRAND.
func brands(cfg Config) map[string]bool {
	out := map[string]bool{cfg.Brand: true}
	for _, b := range cfg.Brands {
		out[b] = true
	}
	return out
}

// Limits is the cross-number limits, as the ratelimit package takes them.
func (cfg Config) Limits() ratelimit.Config {
	rates := func(rs []Rate) []ratelimit.Rate {
		out := make([]ratelimit.Rate, len(rs))
		for i, r := range rs {
			out[i] = ratelimit.Rate{Count: r.Count, Period: r.Period}
		}
		return out
	}
	return ratelimit.Config{
		ClientIPSends: rates(cfg.ClientIPSendLimits), ClientIPChecks: rates(cfg.ClientIPCheckLimits),
		APIKeySends: rates(cfg.APIKeySendLimits), PrefixSends: rates(cfg.PrefixSendLimits),
		BudgetPerMinute: cfg.BudgetPerMinute, CountryBudgets: cfg.CountryBudgets,
		CallBudgetPerMinute: cfg.CallBudgetPerMinute,
	}
}
