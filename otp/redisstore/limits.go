package redisstore

// Limits implements otp.Limiter: the limits that span many numbers
// (end-user IP, API key, number range, country and global budgets), kept
// in the shared Redis so every api replica enforces the same budgets.
//
// "N per period" means at most N in any period (a sliding window, see
// lua/window.lua), judged by the Redis server's clock.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// LimitConfig lists the limits; an empty list or zero budget is off.
type LimitConfig struct {
	ClientIPSends  []Rate
	ClientIPChecks []Rate // wrong codes per IP
	APIKeySends    []Rate
	// APIKeyWrites are the write requests per API key that no send limit
	// counts: cancels, the fraud lists' changes (TakeWrite), and checks
	// (Store.Check takes them with the failed checks' budget).
	APIKeyWrites []Rate
	PrefixSends  []Rate
	// BudgetPerMinute caps SMS per minute in total; CountryBudgets per
	// region per minute, "*" one budget for all regions not named together.
	BudgetPerMinute int
	CountryBudgets  map[string]int
	// CallBudgetPerMinute caps calls per minute on top of the budgets
	// above: a call costs more, and is the toll-fraud channel.
	CallBudgetPerMinute int
	// TelegramBudgetPerMinute caps Telegram messages per minute, on top of
	// the budgets above.
	TelegramBudgetPerMinute int
}

// TenantLimits are one tenant's own limits (TENANTS_FILE), on top of the
// shared ones: its sends across all its keys, and its budgets per minute
// of every send and of calls. Zero is off.
type TenantLimits struct {
	Sends               []Rate
	BudgetPerMinute     int
	CallBudgetPerMinute int
}

// Limits implements otp.Limiter.
type Limits struct {
	rdb redis.UniversalClient
	cfg LimitConfig
	now func() time.Time // nil: the Redis server's clock
	// parts, when there are several, split the send limits (WithParts).
	parts  []string
	partOf func(numberTag string) int
	// guard, when set, judges each send in the same round trip.
	guard *Guard
	// tenant and its own limits (ForTenant); "" the default tenant, which
	// has only the shared ones.
	tenant       string
	tenantLimits TenantLimits
}

// NewLimits returns the limits of cfg on rdb, judged by the Redis server's
// clock.
func NewLimits(rdb redis.UniversalClient, cfg LimitConfig) *Limits {
	return &Limits{rdb: rdb, cfg: cfg}
}

// WithClock judges time by now instead of the Redis server's clock: tests
// move it to reach the end of a window without sleeping.
func (g *Limits) WithClock(now func() time.Time) *Limits { g.now = now; return g }

// WithParts splits the send limits into len(tags) equal parts, for a Redis
// Cluster (QUEUE_SHARDS): a send counts against the part partOf its
// number's tag picks, kept under hash tag tags[part], and each part allows
// the limit divided by the number of parts, rounded up. One script still
// takes all of a send's limits at once, but the load of the limits spreads
// over the masters instead of all landing on {otp:limits}'s. Numbers fall
// into parts by a keyed hash, so nobody can aim at one part; the totals
// hold on average, and a limit binds between 1/parts of its value (every
// send in one part) and its value rounded up to a multiple of parts. The
// per-IP send limits, small and exact by nature, stay whole, in the IP's
// own slot beside its wrong-code limits.
func (g *Limits) WithParts(tags []string, partOf func(numberTag string) int) *Limits {
	g.parts, g.partOf = tags, partOf
	return g
}

// WithGuard has the fraud guard judge every send the limits take, in the
// same round trip.
func (g *Limits) WithGuard(guard *Guard) *Limits { g.guard = guard; return g }

// ForTenant is the limits of one tenant: the shared ones, and its own.
func (g *Limits) ForTenant(name string, own TenantLimits) *Limits {
	c := *g
	c.tenant, c.tenantLimits = name, own
	return &c
}

// guardOf is the guard (nil: none).
func (g *Limits) guardOf() *Guard {
	if g == nil {
		return nil
	}
	return g.guard
}

// Key names. The send limits share the hash tag {otp:limits} (or one
// part's, WithParts), so one script takes from all of a request's limits
// in one Redis Cluster slot; an IP's wrong-code limits, and with parts its
// send limits, share a tag of their own.
const sendTag = "lim:{otp:limits}:"

func partTag(tag string) string                   { return "lim:{" + tag + "}:" }
func ipSendKey(tag, ip string, r Rate) string     { return tag + "ip:" + ip + ":" + period(r) }
func keySendKey(tag, id string, r Rate) string    { return tag + "key:" + id + ":" + period(r) }
func keyWriteKey(tag, id string, r Rate) string   { return tag + "write:" + id + ":" + period(r) }
func prefixKey(tag, prefix string, r Rate) string { return tag + "prefix:" + prefix + ":" + period(r) }
func countryKey(tag, region string) string        { return tag + "country:" + region }
func globalKey(tag string) string                 { return tag + "global" }
func callKey(tag string) string                   { return tag + "call" }
func telegramKey(tag string) string               { return tag + "telegram" }
func ipCheckKey(ip string, r Rate) string         { return ipTag(ip) + "f:" + period(r) }
func ipTag(ip string) string                      { return "lim:{otp:ip:" + ip + "}:" }
func ipPartedSendKey(ip string, r Rate) string    { return ipTag(ip) + "s:" + period(r) }
func tenantSendKey(tag, name string, r Rate) string {
	return tag + "tenant:" + name + ":" + period(r)
}
func tenantBudgetKey(tag, name string) string { return tag + "tenant:" + name + ":budget" }
func tenantCallKey(tag, name string) string   { return tag + "tenant:" + name + ":call" }

// period keeps a key per window, so changing one window does not inherit
// the state of another.
func period(r Rate) string { return strconv.FormatInt(int64(r.Period/time.Second), 10) + "s" }

// limits is one request's list of limits, most specific first, so that a
// refusal names the client's own limit before the budgets everyone shares.
type limits struct {
	keys    []string
	args    []any // the clock, then count and period (ms) per key
	reasons []otp.LimitReason
	now     func() time.Time // nil: the Redis server's clock
}

func (g *Limits) newLimits() limits { return limits{now: g.now} }

// add lists one more limit; the first puts the clock in front of the
// arguments, so that a request with no limit allocates nothing.
func (l *limits) add(key string, r Rate, reason otp.LimitReason) {
	if l.args == nil {
		var at any = ""
		if l.now != nil {
			at = l.now().UnixMilli()
		}
		l.args = append(make([]any, 0, 7), at)
	}
	l.keys = append(l.keys, key)
	l.args = append(l.args, r.Count, r.Period.Milliseconds())
	l.reasons = append(l.reasons, reason)
}

// then is l followed by m, on l's clock (m's when l is empty).
func (l limits) then(m limits) limits {
	if len(l.keys) == 0 {
		return m
	}
	l.keys = append(slices.Clip(l.keys), m.keys...)
	l.reasons = append(slices.Clip(l.reasons), m.reasons...)
	if len(m.args) > 0 {
		l.args = append(slices.Clip(l.args), m.args[1:]...)
	}
	return l
}

// sendLimits lists the limits of a send: ip holds the per-IP ones when
// the limits are split into parts (they stay whole, in the IP's slot),
// l the others; refused is set when a zero country budget refuses the send
// outright.
func (g *Limits) sendLimits(s otp.SendScope) (ip, l limits, refused error) {
	l, ip = g.newLimits(), g.newLimits()
	tag, parts := sendTag, 1
	if len(g.parts) > 1 && s.Tag != "" {
		tag, parts = partTag(g.parts[g.partOf(s.Tag)]), len(g.parts)
	}
	share := func(r Rate) Rate { r.Count = (r.Count + parts - 1) / parts; return r }
	if s.ClientIP != "" {
		for _, r := range g.cfg.ClientIPSends {
			if parts > 1 {
				ip.add(ipPartedSendKey(g.ipOf(s.ClientIP), r), r, otp.LimitClientIP)
			} else {
				l.add(ipSendKey(tag, g.ipOf(s.ClientIP), r), r, otp.LimitClientIP)
			}
		}
	}
	if s.APIKeyID != "" {
		for _, r := range g.cfg.APIKeySends {
			l.add(keySendKey(tag, s.APIKeyID, r), share(r), otp.LimitAPIKey)
		}
	}
	g.addTenant(&l, tag, s.Channel, share)
	for _, r := range g.cfg.PrefixSends {
		l.add(prefixKey(tag, s.Prefix, r), share(r), otp.LimitPrefix)
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
			return ip, l, &otp.LimitError{Reason: otp.LimitCountry, RetryAfter: time.Minute}
		}
		l.add(countryKey(tag, region), share(Rate{Count: budget, Period: time.Minute}), otp.LimitCountry)
	}
	if g.cfg.BudgetPerMinute > 0 {
		l.add(globalKey(tag), share(Rate{Count: g.cfg.BudgetPerMinute, Period: time.Minute}), otp.LimitGlobal)
	}
	if s.Channel == otp.ChannelCall && g.cfg.CallBudgetPerMinute > 0 {
		l.add(callKey(tag), share(Rate{Count: g.cfg.CallBudgetPerMinute, Period: time.Minute}), otp.LimitCallBudget)
	}
	if s.Channel == otp.ChannelTelegram && g.cfg.TelegramBudgetPerMinute > 0 {
		l.add(telegramKey(tag), share(Rate{Count: g.cfg.TelegramBudgetPerMinute, Period: time.Minute}), otp.LimitTelegramBudget)
	}
	return ip, l, nil
}

// ipOf is what an end user's IP limits key on: the IP, within the
// tenant. Each tenant's backend asserts its users' IPs (clientIp); shared
// budgets per IP would let one tenant spend another's users' budget by
// naming their IP (a carrier's NAT), so each tenant counts its own.
func (g *Limits) ipOf(ip string) string {
	if g.tenant == "" {
		return ip
	}
	return g.tenant + "/" + ip
}

// addTenant lists the tenant's own limits of a send on channel: after the
// API key's, before the budgets every tenant shares, so that a refusal
// names the tenant's own cap first.
func (g *Limits) addTenant(l *limits, tag, channel string, share func(Rate) Rate) {
	if g.tenant == "" {
		return
	}
	own := g.tenantLimits
	for _, r := range own.Sends {
		l.add(tenantSendKey(tag, g.tenant, r), share(r), otp.LimitTenant)
	}
	if own.BudgetPerMinute > 0 {
		l.add(tenantBudgetKey(tag, g.tenant), share(Rate{Count: own.BudgetPerMinute, Period: time.Minute}), otp.LimitTenant)
	}
	if channel == otp.ChannelCall && own.CallBudgetPerMinute > 0 {
		l.add(tenantCallKey(tag, g.tenant), share(Rate{Count: own.CallBudgetPerMinute, Period: time.Minute}), otp.LimitTenant)
	}
}

// checkLimits lists an origin's wrong-code limits (none without an IP).
func (g *Limits) checkLimits(o otp.Origin) limits {
	l := g.newLimits()
	if o.ClientIP != "" {
		for _, r := range g.cfg.ClientIPChecks {
			l.add(ipCheckKey(g.ipOf(o.ClientIP), r), r, otp.LimitClientIP)
		}
	}
	return l
}

// TakeSend takes one send from every limit of the request, and has the
// fraud guard judge it, in one round trip (the IP's limits, the part's
// and the guard's scripts in one pipeline), or refuses with the first
// limit that has none left, or the guard's block.
func (g *Limits) TakeSend(ctx context.Context, s otp.SendScope) (otp.SendGrant, error) {
	if g == nil {
		return otp.SendGrant{Refund: nothing}, nil
	}
	pipe := g.rdb.Pipeline()
	read := g.queueSend(ctx, pipe, s, false)
	_, _ = pipe.Exec(ctx) // each script's answer is read below
	t, err := read()
	return otp.SendGrant{Refund: t.refund, Fraud: t.fraud}, err
}

// sendTaken is what a send took: the refund of its limits, the guard's
// verdict, and the guard's tentative count of a new verification.
type sendTaken struct {
	refund  otp.Refund
	fraud   otp.FraudVerdict
	counted *adjustKey
}

// queueSend adds the limits and the guard's judgement to a pipeline (so
// they share a round trip with the start script; start says it is one, to
// be counted as a new verification) and returns the function that reads
// their answer once the pipeline ran. All or none: a refusal by either
// gives back what the other took. No limits (g nil) take nothing.
func (g *Limits) queueSend(ctx context.Context, pipe redis.Scripter, s otp.SendScope, start bool) func() (sendTaken, error) {
	if g == nil {
		return func() (sendTaken, error) { return sendTaken{refund: nothing}, nil }
	}
	limits := g.queueLimits(ctx, pipe, s)
	guard := g.guard.queue(ctx, pipe, s, start)
	return func() (sendTaken, error) {
		refund, lerr := limits()
		gt, gerr := guard()
		t := sendTaken{refund: refund, fraud: gt.verdict, counted: gt.counted}
		var err error
		switch {
		case gerr != nil:
			err = gerr
		case gt.refused:
			err = &otp.LimitError{Reason: otp.LimitFraud, RetryAfter: gt.retryAfter}
		case lerr != nil:
			err = lerr
		}
		if err == nil {
			return t, nil
		}
		if lerr == nil {
			_ = refund(context.WithoutCancel(ctx))
		}
		g.guard.uncount(t.counted)
		var le *otp.LimitError
		if errors.As(err, &le) && (t.fraud.Block != nil || len(t.fraud.New) > 0) {
			le.Fraud = &t.fraud
		}
		return sendTaken{refund: nothing, fraud: t.fraud}, err
	}
}

// queueLimits adds the limits to a pipeline; with the client instead of
// a pipeline it runs at once.
func (g *Limits) queueLimits(ctx context.Context, pipe redis.Scripter, s otp.SendScope) func() (otp.Refund, error) {
	ip, l, refused := g.sendLimits(s)
	var takes []func() (otp.Refund, error)
	for _, set := range []limits{ip, l} {
		if refused == nil && len(set.keys) > 0 {
			takes = append(takes, g.queueTake(ctx, pipe, set))
		}
	}
	switch {
	case len(takes) == 0:
		return func() (otp.Refund, error) { return nothing, refused }
	case len(takes) == 1:
		return takes[0]
	}
	// The IP's limits and the part's are two scripts in two slots: all or
	// none again by giving back what one took when the other refused.
	return func() (otp.Refund, error) {
		var refunds []otp.Refund
		var first error
		for _, take := range takes {
			refund, err := take()
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			refunds = append(refunds, refund)
		}
		all := func(ctx context.Context) error {
			var errs []error
			for _, r := range refunds {
				errs = append(errs, r(ctx))
			}
			return errors.Join(errs...)
		}
		if first != nil {
			_ = all(ctx)
			return nothing, first
		}
		return all, nil
	}
}

// TakeCheck, for a Store.Check on a Cluster (where its keys and the
// number's are in other slots; elsewhere checklimits.lua does all in one
// script), takes one failed check from the origin's budget before the
// check runs, so that parallel checks cannot overshoot it; the refund gives
// it back when the code turns out right. A check is a write: it also takes
// one from the origin's API key's write limits (TakeWrite), in the same
// round trip, so the api does not take them apart. A refusal by the write
// limits is answered first, as when they were taken before; the write is
// never given back (a request counts, whatever it did), and the failed
// check's budget is given back when the write limits refused.
func (g *Limits) TakeCheck(ctx context.Context, o otp.Origin) (otp.Refund, error) {
	if g == nil {
		return nothing, nil
	}
	return g.takeCheck(ctx, g.writeLimits(o.APIKeyID), g.checkLimits(o))
}

// takeCheck is TakeCheck of a check's write limits w and budget l, listed.
func (g *Limits) takeCheck(ctx context.Context, w, l limits) (otp.Refund, error) {
	switch {
	case len(w.keys) == 0 && len(l.keys) == 0:
		return nothing, nil
	case len(w.keys) == 0:
		return g.queueTake(ctx, g.rdb, l)()
	case len(l.keys) == 0:
		_, err := g.queueTake(ctx, g.rdb, w)()
		return nothing, err
	}
	pipe := g.rdb.Pipeline()
	write, check := g.queueTake(ctx, pipe, w), g.queueTake(ctx, pipe, l)
	_, _ = pipe.Exec(ctx) // each script's answer is read below
	_, werr := write()
	refund, err := check()
	if werr != nil {
		if err == nil {
			_ = refund(context.WithoutCancel(ctx))
		}
		return nothing, werr
	}
	return refund, err
}

// TakeWrite takes one write request from the API key's write limits, or
// refuses with LimitAPIKeyWrites. Nothing is given back: the limit counts
// requests, whatever they changed, so that no route lets a key run
// unbounded work or fill Redis. A check takes it with its own budget
// (Store.Check).
func (g *Limits) TakeWrite(ctx context.Context, apiKeyID string) error {
	if g == nil {
		return nil
	}
	l := g.writeLimits(apiKeyID)
	if len(l.keys) == 0 {
		return nil
	}
	_, err := g.queueTake(ctx, g.rdb, l)()
	return err
}

// writeLimits lists an API key's write limits (none without a key). With
// parts (WithParts) a write counts in a part picked at random, nobody's
// choice, so that one API key's writes are not one master's load; the
// part allows its share, as the send limits' do.
func (g *Limits) writeLimits(apiKeyID string) limits {
	l := g.newLimits()
	if apiKeyID == "" || len(g.cfg.APIKeyWrites) == 0 {
		return l
	}
	tag, parts := sendTag, 1
	if len(g.parts) > 1 {
		tag, parts = partTag(g.parts[rand.IntN(len(g.parts))]), len(g.parts)
	}
	for _, r := range g.cfg.APIKeyWrites {
		r.Count = (r.Count + parts - 1) / parts
		l.add(keyWriteKey(tag, apiKeyID, r), r, otp.LimitAPIKeyWrites)
	}
	return l
}

func nothing(context.Context) error { return nil }

func (g *Limits) queueTake(ctx context.Context, pipe redis.Scripter, l limits) func() (otp.Refund, error) {
	read := queue(ctx, g.rdb, pipe, takeScript, l.keys, l.args)
	return func() (otp.Refund, error) {
		res, err := read()
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
func (g *Limits) refund(ctx context.Context, l limits, at int64) error {
	args := append([]any{l.args[0], at}, l.args[1:]...)
	if err := refundScript.Run(ctx, g.rdb, l.keys, args...).Err(); err != nil {
		return fmt.Errorf("%w: rate limit refund: %w", otp.ErrUnavailable, err)
	}
	return nil
}
