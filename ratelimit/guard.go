// Package ratelimit implements otp.Guard with go-redis/redis_rate (GCRA) on
// the shared Redis, so every API replica enforces the same budgets.
package ratelimit

import (
	"context"
	_ "embed"
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
	rdb redis.UniversalClient
	rl  *redis_rate.Limiter
	cfg Config
}

// New returns a Guard on rdb.
func New(rdb redis.UniversalClient, cfg Config) *Guard {
	return &Guard{rdb: rdb, rl: redis_rate.NewLimiter(rdb), cfg: cfg}
}

// Key names. The send limits share the hash tag {otp:limits}, so one
// script evaluates all of a request's limits in one Redis Cluster slot;
// the wrong-code keys are used one at a time through redis_rate (which
// adds "rate:").
const sendTag = "rate:{otp:limits}:"

func ipSendKey(ip string, r Rate) string     { return sendTag + "ip:" + ip + ":" + period(r) }
func ipCheckKey(ip string, r Rate) string    { return "otp:ip:" + ip + ":f:" + period(r) }
func keySendKey(id string, r Rate) string    { return sendTag + "key:" + id + ":" + period(r) }
func prefixKey(prefix string, r Rate) string { return sendTag + "prefix:" + prefix + ":" + period(r) }
func countryKey(region string) string        { return sendTag + "country:" + region }

const globalKey = sendTag + "global"

// period keeps a key per window, so changing one window does not inherit
// the state of another.
func period(r Rate) string { return strconv.FormatInt(int64(r.Period/time.Second), 10) + "s" }

//go:embed lua/allow.lua
var allowLua string

var allowScript = redis.NewScript(allowLua)

//go:embed lua/refund.lua
var refundLua string

var refundScript = redis.NewScript(refundLua)

// sendLimits is one request's list of limits, most specific first, so that
// a client refused for its own excess does not spend the budgets everyone
// shares.
type sendLimits struct {
	keys    []string
	args    []any
	reasons []otp.LimitReason
}

func (l *sendLimits) add(key string, lim redis_rate.Limit, reason otp.LimitReason) {
	l.keys = append(l.keys, key)
	l.args = append(l.args, lim.Burst, lim.Rate, lim.Period.Seconds())
	l.reasons = append(l.reasons, reason)
}

// limitsFor lists the limits of a send; refused is set when a zero country
// budget refuses it outright.
func (g *Guard) limitsFor(s otp.SendScope) (l sendLimits, refused error) {
	if s.ClientIP != "" {
		for _, r := range g.cfg.ClientIPSends {
			l.add(ipSendKey(s.ClientIP, r), r.limit(), otp.LimitClientIP)
		}
	}
	if s.APIKeyID != "" {
		for _, r := range g.cfg.APIKeySends {
			l.add(keySendKey(s.APIKeyID, r), r.limit(), otp.LimitAPIKey)
		}
	}
	for _, r := range g.cfg.PrefixSends {
		l.add(prefixKey(s.Prefix, r), r.limit(), otp.LimitPrefix)
	}
	budget, ok := g.cfg.CountryBudgets[s.Region]
	if !ok {
		budget, ok = g.cfg.CountryBudgets["*"]
	}
	if ok {
		if budget == 0 {
			return l, &otp.LimitError{Reason: otp.LimitCountry, RetryAfter: time.Minute}
		}
		l.add(countryKey(s.Region), redis_rate.PerMinute(budget), otp.LimitCountry)
	}
	if g.cfg.BudgetPerMinute > 0 {
		l.add(globalKey, redis_rate.PerMinute(g.cfg.BudgetPerMinute), otp.LimitGlobal)
	}
	return l, nil
}

// AllowSend takes one send from every limit of the request in one round
// trip, or refuses with the first limit that has none left.
func (g *Guard) AllowSend(ctx context.Context, s otp.SendScope) error {
	return g.QueueSend(ctx, g.rdb, s)()
}

// QueueSend adds the limit check to a pipeline (so it shares a round trip
// with the send script) and returns the function that reads its answer
// once the pipeline ran. With rdb instead of a pipeline it runs at once.
func (g *Guard) QueueSend(ctx context.Context, pipe redis.Scripter, s otp.SendScope) func() error {
	l, refused := g.limitsFor(s)
	if refused != nil || len(l.keys) == 0 {
		return func() error { return refused }
	}
	cmd := allowScript.EvalSha(ctx, pipe, l.keys, l.args...)
	return func() error {
		res, err := cmd.Slice()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			res, err = allowScript.Run(ctx, g.rdb, l.keys, l.args...).Slice()
		}
		if err != nil {
			return fmt.Errorf("%w: rate limit: %w", otp.ErrUnavailable, err)
		}
		i, _ := res[0].(int64)
		if i == 0 {
			return nil
		}
		secs, _ := strconv.ParseFloat(fmt.Sprint(res[1]), 64)
		return &otp.LimitError{Reason: l.reasons[i-1], RetryAfter: time.Duration(secs * float64(time.Second))}
	}
}

// RefundSend gives back what AllowSend took, for a send that the
// per-number rules refused afterwards.
func (g *Guard) RefundSend(ctx context.Context, s otp.SendScope) error {
	l, refused := g.limitsFor(s)
	if refused != nil || len(l.keys) == 0 {
		return nil
	}
	if err := refundScript.Run(ctx, g.rdb, l.keys, l.args...).Err(); err != nil {
		return fmt.Errorf("%w: rate limit refund: %w", otp.ErrUnavailable, err)
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
