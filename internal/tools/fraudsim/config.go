package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/otpd/otpd/internal/config"
)

const apiKey = "fraudsim-key-0123456789abcdef"

// guardParams are the settings the simulation judges the results by, as
// the service was given them (real durations).
type guardParams struct {
	Speed           float64       `json:"speed"`
	Window          time.Duration `json:"window_ns"`
	Grace           time.Duration `json:"grace_ns"`
	BlockTTL        time.Duration `json:"block_ttl_ns"`
	MinSends        int           `json:"min_sends"`
	CountryMinSends int           `json:"country_min_sends"`
	MinConversion   float64       `json:"min_conversion"`
	PrefixCount     int           `json:"prefix_count"`
	PrefixPeriod    time.Duration `json:"prefix_period_ns"`
	OTPTTL          time.Duration `json:"otp_ttl_ns"`
}

// bucket is the guard's bucket width (real): FRAUD_WINDOW / 60, rounded
// up to the millisecond (otp/redisstore/guard.go).
func (p guardParams) bucket() time.Duration {
	ms := (p.Window.Milliseconds() + 59) / 60
	return time.Duration(ms) * time.Millisecond
}

// simDur turns a real duration of the service's into simulated time.
func (p guardParams) simDur(d time.Duration) time.Duration {
	return time.Duration(float64(d) * p.Speed)
}

// scaled is the default d divided by speed, or an error when that falls
// under the setting's minimum.
func scaled(name string, d time.Duration, speed float64, min time.Duration) (time.Duration, error) {
	s := time.Duration(float64(d) / speed).Round(time.Millisecond)
	if s < min {
		return 0, fmt.Errorf("-speed %v makes %s %s (the default %s divided), below its minimum %s", speed, name, s, d, min)
	}
	return s, nil
}

// serviceEnv is the api's and the worker's fraud and limit settings: the
// defaults with every duration divided by speed, and the limits that would
// only throttle the simulation's own load generator raised or off.
func serviceEnv(o options) (map[string]string, guardParams, error) {
	p := guardParams{Speed: o.speed}
	var errs []error
	must := func(name string, d time.Duration, min time.Duration) time.Duration {
		s, err := scaled(name, d, o.speed, min)
		if err != nil {
			errs = append(errs, err)
		}
		return s
	}
	p.Window = must("FRAUD_WINDOW", time.Hour, time.Minute)
	p.Grace = must("FRAUD_GRACE", 2*time.Minute, time.Second)
	p.BlockTTL = must("FRAUD_BLOCK_TTL", 12*time.Hour, time.Second)
	p.PrefixPeriod = must("PREFIX_SEND_LIMITS' period", 10*time.Minute, time.Second)
	toPeriod := must("TO_SEND_LIMIT's period", 24*time.Hour, time.Second)
	// OTP_TTL's minimum is 5s: past speed 120 codes live longer than scaled.
	p.OTPTTL = max(time.Duration(float64(10*time.Minute)/o.speed).Round(time.Millisecond), 5*time.Second)
	if len(errs) > 0 {
		return nil, p, errs[0]
	}
	env := map[string]string{
		"FRAUD_GUARD": "on", "FRAUD_WINDOW": p.Window.String(), "FRAUD_GRACE": p.Grace.String(),
		"FRAUD_BLOCK_TTL": p.BlockTTL.String(), "FRAUD_MIN_SENDS": "20", "FRAUD_MIN_CONVERSION": "0.2",
		"FRAUD_COUNTRY_MIN_SENDS": "200", "PREFIX_DIGITS": strconv.Itoa(prefixDigits),
		"PREFIX_SEND_LIMITS": "30/" + p.PrefixPeriod.String(), "OTP_TTL": p.OTPTTL.String(),
		"OTP_RESEND_COOLDOWN": time.Duration(float64(30*time.Second) / o.speed).Round(time.Millisecond).String(),
		"TO_SEND_LIMIT":       "10/" + toPeriod.String(),
		// The load generator is one API key and passes no clientIp: the
		// per-key limits would throttle it, not an attacker.
		"API_KEY_SEND_LIMITS": "off", "API_KEY_WRITE_LIMITS": "off", "SMS_BUDGET_PER_MINUTE": "1000000", "ALLOWED_COUNTRIES": "*",
		"API_KEYS": apiKey, "LOG_LEVEL": "warn", "OTP_BRAND": "FraudSim",
	}
	for k, v := range splitEnv(o.extraEnv) {
		env[k] = v
	}
	return env, p, p.readBack(env)
}

// readBack takes the judged settings from env, so that -env overrides
// count in the targets too.
func (p *guardParams) readBack(env map[string]string) error {
	var err error
	for name, dst := range map[string]*time.Duration{"FRAUD_WINDOW": &p.Window, "FRAUD_GRACE": &p.Grace, "FRAUD_BLOCK_TTL": &p.BlockTTL, "OTP_TTL": &p.OTPTTL} {
		if *dst, err = time.ParseDuration(env[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for name, dst := range map[string]*int{"FRAUD_MIN_SENDS": &p.MinSends, "FRAUD_COUNTRY_MIN_SENDS": &p.CountryMinSends} {
		if *dst, err = strconv.Atoi(env[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if p.MinConversion, err = strconv.ParseFloat(env["FRAUD_MIN_CONVERSION"], 64); err != nil {
		return fmt.Errorf("FRAUD_MIN_CONVERSION: %w", err)
	}
	rates, err := config.ParseRates(env["PREFIX_SEND_LIMITS"])
	switch {
	case err != nil:
		return fmt.Errorf("PREFIX_SEND_LIMITS: %w", err)
	case len(rates) == 0:
		p.PrefixCount, p.PrefixPeriod = math.MaxInt32, 0 // off
	default:
		p.PrefixCount, p.PrefixPeriod = rates[0].Count, rates[0].Period
	}
	return nil
}

// printConfig shows the service's settings, real and simulated.
func printConfig(w io.Writer, o options, env map[string]string, p guardParams) {
	fmt.Fprintf(w, "fraud-sim: speed %v (1 real second = %s simulated); the service's settings:\n", o.speed, p.simDur(time.Second))
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		if k == "API_KEYS" {
			v = "(set)"
		}
		sim := ""
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			sim = "= " + p.simDur(d).String() + " simulated"
		} else if r, err := config.ParseRate(v); err == nil && !r.Off() && r.Period > 0 {
			sim = fmt.Sprintf("= %d/%s simulated", r.Count, p.simDur(r.Period))
		}
		fmt.Fprintf(w, "  %-24s %-14s %s\n", k, v, sim)
	}
	fmt.Fprintf(w, "  (guard bucket %s = %s simulated; fake Twilio latency %s real = %s simulated)\n",
		p.bucket(), p.simDur(p.bucket()), o.twilioLatency, p.simDur(o.twilioLatency))
}
