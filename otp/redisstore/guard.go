package redisstore

// Guard is the fraud guard's store (otp.FraudGuard): per number range and
// per country, a hash of time buckets counting new verifications and their
// approvals (lua/guardlib.lua). A send's judgement and its count ride on
// the send's own round trip (guard.lua, pipelined by Limits); what is
// learned only after that round trip (a count to take back, an approval)
// is batched here and written by Run, never on a request's path.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
)

// GuardConfig is the guard's configuration (FRAUD_*).
type GuardConfig struct {
	// Shadow judges and blocks but refuses nothing (FRAUD_GUARD=shadow).
	Shadow bool
	// Window is the rolling window counted; a verification is judged once
	// Grace has passed since its first send.
	Window, Grace time.Duration
	// A range with at least MinSends judged verifications (a country:
	// CountryMinSends), fewer than MinConversion of them approved, is
	// blocked for BlockTTL.
	MinSends, CountryMinSends int
	MinConversion             float64
	BlockTTL                  time.Duration
}

// guardBuckets is guardlib.lua's BUCKETS: the window's buckets.
const guardBuckets = 60

// maxPending bounds what waits for Run when Redis is down: past it, the
// newest adjustments are dropped (and logged) rather than memory grown.
const maxPending = 100_000

// Guard implements otp.FraudGuard, and judges sends for Limits.
type Guard struct {
	rdb   redis.UniversalClient
	cfg   GuardConfig
	width int64 // a bucket, ms
	now   func() time.Time
	tags  []string // a hash tag per part
	log   *slog.Logger

	mu      sync.Mutex
	pending map[adjustKey]adjustment
}

// adjustKey is one bucket of one range (and its country) in one part.
type adjustKey struct {
	part           int
	prefix, region string
	bucket         int64
}

// adjustment is what to add to it.
type adjustment struct{ verifications, approvals int }

// NewGuard returns the guard of cfg on rdb, judged by the Redis server's
// clock, its keys under one hash tag.
func NewGuard(rdb redis.UniversalClient, cfg GuardConfig, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	width := (cfg.Window.Milliseconds() + guardBuckets - 1) / guardBuckets
	return &Guard{rdb: rdb, cfg: cfg, width: max(width, 1), tags: []string{guardDefaultTag}, log: log,
		pending: map[adjustKey]adjustment{}}
}

// WithClock judges time by now instead of the Redis server's clock.
func (g *Guard) WithClock(now func() time.Time) *Guard { g.now = now; return g }

// WithParts spreads the guard's keys over the hash tags tags, for a Redis
// Cluster (QUEUE_SHARDS): a range lives in the part its name hashes to, so
// it is judged whole; a country is judged in each part on that part's
// share of its ranges, its minimum divided alike (rounded up), so a wave
// over many ranges meets it in every part at about the same time.
func (g *Guard) WithParts(tags []string) *Guard {
	if len(tags) > 1 {
		g.tags = tags
	}
	return g
}

func (g *Guard) part(prefix string) int {
	if len(g.tags) == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(prefix))
	return int(h.Sum32() % uint32(len(g.tags)))
}

func (g *Guard) clock() any {
	if g.now == nil {
		return ""
	}
	return g.now().UnixMilli()
}

// guardTaken is what the guard made of one send.
type guardTaken struct {
	verdict    otp.FraudVerdict
	refused    bool // a block binds, and the guard is on
	retryAfter time.Duration
	counted    *adjustKey // the tentative count, to take back if no verification came of it
}

// queue adds a send's judgement to a pipeline (count: it is a start,
// which may make a new verification) and returns the function that reads
// it once the pipeline ran. A nil guard, or a number FRAUD_SAFE_LIST
// names, is not judged.
func (g *Guard) queue(ctx context.Context, pipe redis.Scripter, s otp.SendScope, count bool) func() (guardTaken, error) {
	if g == nil || s.Safe {
		return func() (guardTaken, error) { return guardTaken{}, nil }
	}
	part := g.part(s.Prefix)
	tag := g.tags[part]
	countryMin := (g.cfg.CountryMinSends + len(g.tags) - 1) / len(g.tags)
	keys := []string{guardScopeKey(tag, otp.FraudScopePrefix, s.Prefix), guardScopeKey(tag, otp.FraudScopeCountry, s.Region),
		guardBlocksKey(tag), guardSafeKey(tag)}
	args := []any{g.clock(), g.cfg.Window.Milliseconds(), g.cfg.Grace.Milliseconds(), g.width,
		g.cfg.MinSends, strconv.FormatFloat(g.cfg.MinConversion, 'g', -1, 64), countryMin,
		g.cfg.BlockTTL.Milliseconds(), flag(g.cfg.Shadow), flag(count), s.Number, s.Prefix, s.Region}
	read := queue(ctx, g.rdb, pipe, guardScript, keys, args)
	return func() (guardTaken, error) {
		res, err := read()
		if err != nil {
			return guardTaken{}, fmt.Errorf("%w: fraud guard: %w", otp.ErrUnavailable, err)
		}
		t, err := g.parseJudgement(res)
		if err == nil && count && outcome(str(res, 0)) != outSafe && (!t.refused) {
			at, _ := res[1].(int64)
			t.counted = &adjustKey{part: part, prefix: s.Prefix, region: s.Region, bucket: at / g.width}
		}
		return t, err
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// parseJudgement reads guard.lua's answer.
func (g *Guard) parseJudgement(res []any) (guardTaken, error) {
	var t guardTaken
	if len(res) < 2 || (len(res)-2)%8 != 0 {
		return t, fmt.Errorf("%w: fraud guard: a reply of %d values", otp.ErrUnavailable, len(res))
	}
	at, _ := res[1].(int64)
	for i := 2; i < len(res); i += 8 {
		b, err := readBlock(str(res, i), str(res, i+1), res[i+2:i+7])
		if err != nil {
			return t, err
		}
		if str(res, i+7) == "1" {
			t.verdict.New = append(t.verdict.New, b)
		}
		if outcome(str(res, 0)) == outRefuse {
			t.verdict.Block = &b
			t.refused = !g.cfg.Shadow
			t.retryAfter = time.Duration(b.Until.UnixMilli()-at) * time.Millisecond
		}
	}
	return t, nil
}

// readBlock makes a block of its scope letter, name and fields
// (BLOCK_FIELDS' order: since, until, settled, approved, shadow).
func readBlock(letter, name string, f []any) (otp.FraudBlock, error) {
	b := otp.FraudBlock{Shadow: str(f, 4) == "1"}
	switch letter {
	case guardScopes[otp.FraudScopePrefix]:
		b.Scope, b.Prefix = otp.FraudScopePrefix, name
	case guardScopes[otp.FraudScopeCountry]:
		b.Scope, b.Country = otp.FraudScopeCountry, name
	default:
		return b, fmt.Errorf("%w: fraud guard: scope %q", otp.ErrUnavailable, letter)
	}
	since, until := integer(f[0]), integer(f[1])
	b.Since, b.Until = time.UnixMilli(since).UTC(), time.UnixMilli(until).UTC()
	b.Settled, b.Approved = int(integer(f[2])), int(integer(f[3]))
	return b, nil
}

// integer reads a number a script returned: an integer, or a field's string.
func integer(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// uncount takes back a tentative count: the start was a resend, or was
// refused, or undone.
func (g *Guard) uncount(k *adjustKey) {
	if g != nil && k != nil {
		g.add(*k, adjustment{verifications: -1})
	}
}

// Approved counts an approval of a verification made at createdAt.
func (g *Guard) Approved(prefix, region string, createdAt time.Time) {
	if g == nil {
		return
	}
	g.add(adjustKey{part: g.part(prefix), prefix: prefix, region: region, bucket: createdAt.UnixMilli() / g.width},
		adjustment{approvals: 1})
}

func (g *Guard) add(k adjustKey, a adjustment) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur, ok := g.pending[k]
	if !ok && len(g.pending) >= maxPending {
		g.log.Error("fraud guard: too many counts waiting for Redis; one dropped")
		return
	}
	cur.verifications += a.verifications
	cur.approvals += a.approvals
	g.pending[k] = cur
}

// Run writes what waits, every interval, until ctx ends; then once more.
func (g *Guard) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := g.Flush(fctx); err != nil {
				g.log.Error("fraud guard: counts lost at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := g.Flush(ctx); err != nil {
				g.log.WarnContext(ctx, "fraud guard: counts not written, kept for the next try", "err", err)
			}
		}
	}
}

// Flush writes what waits in one round trip. What Redis did not take
// waits for the next.
func (g *Guard) Flush(ctx context.Context) error {
	g.mu.Lock()
	batch := g.pending
	g.pending = make(map[adjustKey]adjustment, len(batch))
	g.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	pipe := g.rdb.Pipeline()
	type sent struct {
		k    adjustKey
		a    adjustment
		read func() ([]any, error)
	}
	all := make([]sent, 0, len(batch))
	for k, a := range batch {
		if a == (adjustment{}) {
			continue
		}
		tag := g.tags[k.part]
		keys := []string{guardScopeKey(tag, otp.FraudScopePrefix, k.prefix), guardScopeKey(tag, otp.FraudScopeCountry, k.region)}
		args := []any{g.clock(), g.cfg.Window.Milliseconds(), g.width, k.bucket, a.verifications, a.approvals}
		all = append(all, sent{k, a, queue(ctx, g.rdb, pipe, adjustScript, keys, args)})
	}
	_, _ = pipe.Exec(ctx)
	var errs []error
	for _, s := range all {
		if _, err := s.read(); err != nil {
			errs = append(errs, err)
			g.add(s.k, s.a)
		}
	}
	return errors.Join(errs...)
}

// nameOf is a block's scope and index member for its name: a prefix
// starts with "+", a country is its region.
func nameOf(name string) (scope, member string) {
	scope = otp.FraudScopeCountry
	if strings.HasPrefix(name, "+") {
		scope = otp.FraudScopePrefix
	}
	return scope, guardScopes[scope] + ":" + name
}

// partsOf are the parts a block of name may be in: a range's own, every
// part for a country.
func (g *Guard) partsOf(scope, name string) []int {
	if scope == otp.FraudScopePrefix {
		return []int{g.part(name)}
	}
	parts := make([]int, len(g.tags))
	for i := range parts {
		parts[i] = i
	}
	return parts
}

// Blocks lists the blocks in force (a country blocked in several parts
// once, its latest).
func (g *Guard) Blocks(ctx context.Context) ([]otp.FraudBlock, error) {
	now, err := g.serverNow(ctx)
	if err != nil {
		return nil, err
	}
	type member struct{ tag, letter, name string }
	var members []member
	for _, tag := range g.tags {
		ms, err := g.rdb.ZRangeByScore(ctx, guardBlocksKey(tag),
			&redis.ZRangeBy{Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"}).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			letter, name, _ := strings.Cut(m, ":")
			members = append(members, member{tag, letter, name})
		}
	}
	// One round trip for all of them: an attack can leave thousands.
	cmds := make([]*redis.SliceCmd, len(members))
	if _, err := g.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			scope, _ := nameOf(m.name)
			cmds[i] = p.HMGet(ctx, guardScopeKey(m.tag, scope, m.name), guardSince, guardUntil, guardSettled, guardApproved, guardShadow)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	byName := map[string]otp.FraudBlock{}
	for i, m := range members {
		b, err := readBlock(m.letter, m.name, cmds[i].Val())
		if err != nil || !b.Until.After(now) {
			continue // lifted or replaced meanwhile
		}
		if old, ok := byName[m.name]; !ok || b.Until.After(old.Until) {
			byName[m.name] = b
		}
	}
	out := make([]otp.FraudBlock, 0, len(byName))
	for _, b := range byName {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b otp.FraudBlock) int { return a.Since.Compare(b.Since) })
	return out, nil
}

func (g *Guard) serverNow(ctx context.Context) (time.Time, error) {
	if g.now != nil {
		return g.now(), nil
	}
	return g.rdb.Time(ctx).Result()
}

// Lift ends the block named name now and restarts its counts.
func (g *Guard) Lift(ctx context.Context, name string) (otp.FraudBlock, bool, error) {
	scope, member := nameOf(name)
	var lifted *otp.FraudBlock
	for _, p := range g.partsOf(scope, name) {
		tag := g.tags[p]
		res, err := liftScript.Run(ctx, g.rdb, []string{guardScopeKey(tag, scope, name), guardBlocksKey(tag)},
			g.clock(), member).Slice()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return otp.FraudBlock{}, false, err
		}
		b, err := readBlock(guardScopes[scope], name, res)
		if err != nil {
			return otp.FraudBlock{}, false, err
		}
		if lifted == nil {
			lifted = &b
		}
	}
	if lifted == nil {
		return otp.FraudBlock{}, false, nil
	}
	return *lifted, true, nil
}

// Ended reports, once, that the block named name, made to end at until,
// has ended by itself.
func (g *Guard) Ended(ctx context.Context, name string, until time.Time) (otp.FraudBlock, bool, error) {
	scope, member := nameOf(name)
	for _, p := range g.partsOf(scope, name) {
		tag := g.tags[p]
		res, err := endedScript.Run(ctx, g.rdb, []string{guardScopeKey(tag, scope, name), guardBlocksKey(tag)},
			g.clock(), member, until.UnixMilli()).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return otp.FraudBlock{}, false, err
		}
		if s, ok := res.(string); ok && outcome(s) == outBusy {
			return otp.FraudBlock{}, false, otp.ErrFraudBlockNotOver
		}
		f, _ := res.([]any)
		b, err := readBlock(guardScopes[scope], name, f)
		if err != nil {
			return otp.FraudBlock{}, false, err
		}
		return b, true, nil
	}
	return otp.FraudBlock{}, false, nil
}

// Safe reports whether e164 is on the safe list the store keeps: it is an
// entry, or starts with one.
func (g *Guard) Safe(ctx context.Context, e164 string) (bool, error) {
	pipe := g.rdb.Pipeline()
	key := guardSafeKey(g.tags[0])
	cmds := make([]*redis.BoolCmd, 0, len(e164))
	for i := 2; i <= len(e164); i++ {
		cmds = append(cmds, pipe.SIsMember(ctx, key, e164[:i]))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, err
	}
	for _, c := range cmds {
		if c.Val() {
			return true, nil
		}
	}
	return false, nil
}

// SafeList is the entries added through the API, sorted.
func (g *Guard) SafeList(ctx context.Context) ([]string, error) {
	out, err := g.rdb.SMembers(ctx, guardSafeKey(g.tags[0])).Result()
	slices.Sort(out)
	return out, err
}

// AddSafe puts entry on the list in every part, where guard.lua reads it.
func (g *Guard) AddSafe(ctx context.Context, entry string) error {
	return g.everyPart(ctx, func(pipe redis.Pipeliner, key string) { pipe.SAdd(ctx, key, entry) })
}

// RemoveSafe takes entry off the list in every part.
func (g *Guard) RemoveSafe(ctx context.Context, entry string) error {
	return g.everyPart(ctx, func(pipe redis.Pipeliner, key string) { pipe.SRem(ctx, key, entry) })
}

func (g *Guard) everyPart(ctx context.Context, do func(redis.Pipeliner, string)) error {
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, tag := range g.tags {
			do(pipe, guardSafeKey(tag))
		}
		return nil
	})
	return err
}
