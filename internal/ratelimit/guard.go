// Package ratelimit implements otp.Guard: the limits that span many numbers
// (end-user IP, API key, number range, country and global budgets), kept
// in the shared Redis so every API replica enforces the same budgets.
//
// "N per period" means at most N in any period (a sliding window, see
// lua/window.lua), judged by the Redis server's clock.
package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
)

// Rate is at most Count events in any Period.
type Rate struct {
	Count  int
	Period time.Duration
}

// Config lists the limits; an empty list or zero budget is off.
type Config struct {
	ClientIPSends  []Rate
	ClientIPChecks []Rate // wrong codes per IP
	APIKeySends    []Rate
	PrefixSends    []Rate
	// BudgetPerMinute caps SMS per minute in total; CountryBudgets per
	// region per minute, "*" one budget for all regions not named together.
	BudgetPerMinute int
	CountryBudgets  map[string]int
	// CallBudgetPerMinute caps calls per minute on top of the budgets
	// above: a call costs more, and is the toll-fraud channel.
	CallBudgetPerMinute int
}

// Guard implements otp.Guard.
type Guard struct {
	rdb redis.UniversalClient
	cfg Config
	now func() time.Time // nil: the Redis server's clock
}

// New returns a Guard on rdb that judges time by the Redis server's clock.
func New(rdb redis.UniversalClient, cfg Config) *Guard {
	return &Guard{rdb: rdb, cfg: cfg}
}

// WithClock judges time by now instead of the Redis server's clock: tests
// move it to reach the end of a window without sleeping.
func (g *Guard) WithClock(now func() time.Time) *Guard { g.now = now; return g }

// Key names. The send limits share the hash tag {otp:limits}, so one
// script takes from all of a request's limits in one Redis Cluster slot;
// an IP's wrong-code limits share a tag of their own.
const sendTag = "lim:{otp:limits}:"

func ipSendKey(ip string, r Rate) string     { return sendTag + "ip:" + ip + ":" + period(r) }
func keySendKey(id string, r Rate) string    { return sendTag + "key:" + id + ":" + period(r) }
func prefixKey(prefix string, r Rate) string { return sendTag + "prefix:" + prefix + ":" + period(r) }
func countryKey(region string) string        { return sendTag + "country:" + region }
func ipCheckKey(ip string, r Rate) string    { return "lim:{otp:ip:" + ip + "}:f:" + period(r) }

const (
	globalKey = sendTag + "global"
	callKey   = sendTag + "call"
)

// period keeps a key per window, so changing one window does not inherit
// the state of another.
func period(r Rate) string { return strconv.FormatInt(int64(r.Period/time.Second), 10) + "s" }

var (
	//go:embed lua/window.lua
	windowLua string
	//go:embed lua/take.lua
	takeLua string
	//go:embed lua/refund.lua
	refundLua string

	takeScript   = redis.NewScript(windowLua + "\n" + takeLua)
	refundScript = redis.NewScript(windowLua + "\n" + refundLua)
)

// limits is one request's list of limits, most specific first, so that a
// refusal names the client's own limit before the budgets everyone shares.
type limits struct {
	keys    []string
	args    []any // the clock, then count and period (ms) per key
	reasons []otp.LimitReason
}

func (g *Guard) newLimits() limits {
	var at any = ""
	if g.now != nil {
		at = g.now().UnixMilli()
	}
	return limits{args: []any{at}}
}

func (l *limits) add(key string, r Rate, reason otp.LimitReason) {
	l.keys = append(l.keys, key)
	l.args = append(l.args, r.Count, r.Period.Milliseconds())
	l.reasons = append(l.reasons, reason)
}

// sendLimits lists the limits of a send; refused is set when a zero
// country budget refuses it outright.
func (g *Guard) sendLimits(s otp.SendScope) (l limits, refused error) {
	l = g.newLimits()
	if s.ClientIP != "" {
		for _, r := range g.cfg.ClientIPSends {
			l.add(ipSendKey(s.ClientIP, r), r, otp.LimitClientIP)
		}
	}
	if s.APIKeyID != "" {
		for _, r := range g.cfg.APIKeySends {
			l.add(keySendKey(s.APIKeyID, r), r, otp.LimitAPIKey)
		}
	}
	for _, r := range g.cfg.PrefixSends {
		l.add(prefixKey(s.Prefix, r), r, otp.LimitPrefix)
	}
	// "*" is one budget that every country not named shares: a pumping
	// wave spread over many countries meets one cap, not one per country.
	region := s.Region
	budget, ok := g.cfg.CountryBudgets[region]
	if !ok {
		region = "others" // lower case: no ISO region looks like it
		budget, ok = g.cfg.CountryBudgets["*"]
	}
	if ok {
		if budget == 0 {
			return l, &otp.LimitError{Reason: otp.LimitCountry, RetryAfter: time.Minute}
		}
		l.add(countryKey(region), Rate{Count: budget, Period: time.Minute}, otp.LimitCountry)
	}
	if g.cfg.BudgetPerMinute > 0 {
		l.add(globalKey, Rate{Count: g.cfg.BudgetPerMinute, Period: time.Minute}, otp.LimitGlobal)
	}
	if s.Channel == otp.ChannelCall && g.cfg.CallBudgetPerMinute > 0 {
		l.add(callKey, Rate{Count: g.cfg.CallBudgetPerMinute, Period: time.Minute}, otp.LimitCallBudget)
	}
	return l, nil
}

// checkLimits lists an origin's wrong-code limits (none without an IP).
func (g *Guard) checkLimits(o otp.Origin) limits {
	l := g.newLimits()
	if o.ClientIP != "" {
		for _, r := range g.cfg.ClientIPChecks {
			l.add(ipCheckKey(o.ClientIP, r), r, otp.LimitClientIP)
		}
	}
	return l
}

// AllowSend takes one send from every limit of the request in one round
// trip, or refuses with the first limit that has none left.
func (g *Guard) AllowSend(ctx context.Context, s otp.SendScope) (otp.Refund, error) {
	return g.QueueSend(ctx, g.rdb, s)()
}

// QueueSend adds the limits to a pipeline (so they share a round trip
// with the send script) and returns the function that reads their answer
// once the pipeline ran. With rdb instead of a pipeline it runs at once.
func (g *Guard) QueueSend(ctx context.Context, pipe redis.Scripter, s otp.SendScope) func() (otp.Refund, error) {
	l, refused := g.sendLimits(s)
	if refused != nil || len(l.keys) == 0 {
		return func() (otp.Refund, error) { return nothing, refused }
	}
	return g.queueTake(ctx, pipe, l)
}

// TakeCheck takes one failed check from the origin's budget before the
// check runs, so that parallel checks cannot overshoot it; the refund gives
// it back when the code turns out right.
func (g *Guard) TakeCheck(ctx context.Context, o otp.Origin) (otp.Refund, error) {
	l := g.checkLimits(o)
	if len(l.keys) == 0 {
		return nothing, nil
	}
	return g.queueTake(ctx, g.rdb, l)()
}

func nothing(context.Context) error { return nil }

func (g *Guard) queueTake(ctx context.Context, pipe redis.Scripter, l limits) func() (otp.Refund, error) {
	cmd := takeScript.EvalSha(ctx, pipe, l.keys, l.args...)
	return func() (otp.Refund, error) {
		res, err := cmd.Slice()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Script cache empty (restart, failover): it did not run.
			res, err = takeScript.Run(ctx, g.rdb, l.keys, l.args...).Slice()
		}
		if err != nil {
			return nothing, fmt.Errorf("%w: rate limit: %w", otp.ErrUnavailable, err)
		}
		i, _ := res[0].(int64)
		if i != 0 {
			wait, _ := res[1].(int64)
			return nothing, &otp.LimitError{Reason: l.reasons[i-1], RetryAfter: time.Duration(wait) * time.Millisecond}
		}
		at, _ := res[1].(int64)
		return func(ctx context.Context) error { return g.refund(ctx, l, at) }, nil
	}
}

// refund gives back what a take at time at took from l's limits.
func (g *Guard) refund(ctx context.Context, l limits, at int64) error {
	args := append([]any{l.args[0], at}, l.args[1:]...)
	if err := refundScript.Run(ctx, g.rdb, l.keys, args...).Err(); err != nil {
		return fmt.Errorf("%w: rate limit refund: %w", otp.ErrUnavailable, err)
	}
	return nil
}
