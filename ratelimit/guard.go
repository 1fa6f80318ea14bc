// Package ratelimit implements otp.Guard with go-redis/redis_rate (GCRA) on
// the shared Redis, so every API replica enforces the same budgets.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
)

// Rate is Count events per Period; GCRA lets a burst of Count through and
// then refills one every Period/Count.
type Rate struct {
	Count  int
	Period time.Duration
}

func (r Rate) limit() redis_rate.Limit {
	return redis_rate.Limit{Rate: r.Count, Burst: r.Count, Period: r.Period}
}

// Config lists the limits; an empty list or zero budget is off.
type Config struct {
	ClientIPSends  []Rate
	ClientIPChecks []Rate // wrong codes per IP
	APIKeySends    []Rate
	PrefixSends    []Rate
	// BudgetPerMinute caps SMS per minute in total; CountryBudgets per
	// region per minute, "*" for every region not named.
	BudgetPerMinute int
	CountryBudgets  map[string]int
}

// Guard implements otp.Guard.
type Guard struct {
	rl  *redis_rate.Limiter
	cfg Config
}

// New returns a Guard on rdb.
func New(rdb redis.UniversalClient, cfg Config) *Guard {
	return &Guard{rl: redis_rate.NewLimiter(rdb), cfg: cfg}
}

// Key names. redis_rate prefixes each with "rate:".
func ipSendKey(ip string, r Rate) string     { return "otp:ip:" + ip + ":s:" + period(r) }
func ipCheckKey(ip string, r Rate) string    { return "otp:ip:" + ip + ":f:" + period(r) }
func keySendKey(id string, r Rate) string    { return "otp:key:" + id + ":s:" + period(r) }
func prefixKey(prefix string, r Rate) string { return "otp:prefix:" + prefix + ":" + period(r) }
func countryKey(region string) string        { return "otp:country:" + region }

const globalKey = "otp:global"

// period keeps a key per window, so changing one window does not inherit
// the state of another.
func period(r Rate) string { return strconv.FormatInt(int64(r.Period/time.Second), 10) + "s" }

// AllowSend checks the limits from the most specific to the most shared,
// so that a client refused for its own excess does not spend the budgets
// everyone shares.
func (g *Guard) AllowSend(ctx context.Context, s otp.SendScope) error {
	if s.ClientIP != "" {
		for _, r := range g.cfg.ClientIPSends {
			if err := g.take(ctx, ipSendKey(s.ClientIP, r), r.limit(), otp.LimitClientIP); err != nil {
				return err
			}
		}
	}
	if s.APIKeyID != "" {
		for _, r := range g.cfg.APIKeySends {
			if err := g.take(ctx, keySendKey(s.APIKeyID, r), r.limit(), otp.LimitAPIKey); err != nil {
				return err
			}
		}
	}
	for _, r := range g.cfg.PrefixSends {
		if err := g.take(ctx, prefixKey(s.Prefix, r), r.limit(), otp.LimitPrefix); err != nil {
			return err
		}
	}
	budget, ok := g.cfg.CountryBudgets[s.Region]
	if !ok {
		budget, ok = g.cfg.CountryBudgets["*"]
	}
	if ok {
		if budget == 0 {
			return &otp.LimitError{Reason: otp.LimitCountry, RetryAfter: time.Minute}
		}
		if err := g.take(ctx, countryKey(s.Region), redis_rate.PerMinute(budget), otp.LimitCountry); err != nil {
			return err
		}
	}
	if g.cfg.BudgetPerMinute > 0 {
		if err := g.take(ctx, globalKey, redis_rate.PerMinute(g.cfg.BudgetPerMinute), otp.LimitGlobal); err != nil {
			return err
		}
	}
	return nil
}

// AllowCheck refuses an IP with no wrong-code budget left, without
// spending any: only wrong codes cost.
func (g *Guard) AllowCheck(ctx context.Context, o otp.Origin) error {
	if o.ClientIP == "" {
		return nil
	}
	for _, r := range g.cfg.ClientIPChecks {
		res, err := g.rl.AllowN(ctx, ipCheckKey(o.ClientIP, r), r.limit(), 0)
		if err != nil {
			return fmt.Errorf("%w: rate limit: %w", otp.ErrUnavailable, err)
		}
		if res.Remaining < 1 {
			// Time until one wrong code fits again.
			wait := r.Period / time.Duration(r.Count)
			return &otp.LimitError{Reason: otp.LimitClientIP, RetryAfter: wait}
		}
	}
	return nil
}

// CheckFailed spends one wrong code from the IP's budget.
func (g *Guard) CheckFailed(ctx context.Context, o otp.Origin) error {
	if o.ClientIP == "" {
		return nil
	}
	for _, r := range g.cfg.ClientIPChecks {
		if _, err := g.rl.AllowAtMost(ctx, ipCheckKey(o.ClientIP, r), r.limit(), 1); err != nil {
			return fmt.Errorf("%w: rate limit: %w", otp.ErrUnavailable, err)
		}
	}
	return nil
}

func (g *Guard) take(ctx context.Context, key string, l redis_rate.Limit, reason otp.LimitReason) error {
	res, err := g.rl.Allow(ctx, key, l)
	if err != nil {
		return fmt.Errorf("%w: rate limit: %w", otp.ErrUnavailable, err)
	}
	if res.Allowed == 0 {
		return &otp.LimitError{Reason: reason, RetryAfter: res.RetryAfter}
	}
	return nil
}
