package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
)

// Store implements otp.Store on Redis: one hash per number (keys.go), each
// operation one round trip (a Lua script, or a pipeline), so every rule is
// applied atomically and works unchanged on Redis Cluster.
//
// Time is the Redis server's: the scripts read TIME, so that expiry,
// cooldowns and windows are judged alike by every api and worker, whatever
// their hosts' clocks say (a lagging host used to keep codes alive longer).
type Store struct {
	rdb    redis.UniversalClient
	tenant string  // "" the default tenant (ForTenant)
	limits *Limits // nil: no cross-number limits
	log    *slog.Logger
	now    func() time.Time // nil: the Redis server's clock
	// cluster: keys of different slots cannot meet in one script. Set
	// for a Cluster client, and the first time Redis answers CROSSSLOT
	// (a proxy that shards by key, before a plain client).
	cluster *atomic.Bool
}

// New returns a store on rdb whose starts take the cross-number limits of
// limits (nil: none) in the same round trip.
func New(rdb redis.UniversalClient, limits *Limits, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, isCluster := rdb.(*redis.ClusterClient)
	cluster := new(atomic.Bool)
	cluster.Store(isCluster)
	return &Store{rdb: rdb, limits: limits, log: log, cluster: cluster}
}

// WithClock makes the scripts judge time by now instead of the Redis
// server's clock: tests move it to reach expiry without sleeping.
func (s *Store) WithClock(now func() time.Time) *Store { s.now = now; return s }

// ForTenant is the store of one tenant of TENANTS_FILE (name "" is the
// default tenant): its verifications live in records of their own
// (recordKey), invisible to every other tenant's store, and its starts
// take limits (its own and the shared ones).
func (s *Store) ForTenant(name string, limits *Limits) *Store {
	c := *s
	c.tenant, c.limits = name, limits
	return &c
}

// keys are the keys of a script that reads the tenant's record and the
// number's shared fields.
func (s *Store) keys(tag string) []string { return []string{recordKey(tag, s.tenant), numberKey(tag)} }

// clock is the scripts' time argument: "" asks them to read Redis's TIME.
func (s *Store) clock() any {
	if s.now == nil {
		return ""
	}
	return s.now().UnixMilli()
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Start takes the send's cross-number limits and runs the start script in
// one round trip (they live in different Cluster slots, so they cannot be
// one script), then makes it all or nothing: a start the limits refused is
// undone, and limits a start the per-number rules refused took are given
// back. When Redis's answer is lost the start may have run: it is undone,
// or the client's retry would meet a cooldown on a verification nobody
// will send.
func (s *Store) Start(ctx context.Context, p otp.StartParams) (otp.StartResult, error) {
	pipe := s.rdb.Pipeline()
	limitsDone := s.limits.queueSend(ctx, pipe, p.Scope, true)
	startDone := s.queueStart(ctx, pipe, p)
	_, _ = pipe.Exec(ctx) // each command's error is read below
	res, err := startDone()
	taken, lerr := limitsDone()
	if lerr != nil {
		if err == nil {
			s.undo(ctx, res.Undo)
		}
		return otp.StartResult{Fraud: taken.fraud}, lerr
	}
	res.Fraud = taken.fraud
	switch {
	case isLimit(err):
		s.undo(ctx, taken.refund)
	case errors.Is(err, otp.ErrUnavailable):
		s.undo(ctx, func(ctx context.Context) error { return s.rollbackCreated(ctx, p.Tag, p.NewID) })
	}
	// The guard counted a new verification: take it back unless one came,
	// and when it is undone.
	guard := s.limits.guardOf()
	if err != nil || !res.Created {
		guard.uncount(taken.counted)
	} else if taken.counted != nil {
		undo := res.Undo
		res.Undo = func(ctx context.Context) error {
			guard.uncount(taken.counted)
			return undo(ctx)
		}
	}
	return res, err
}

// undo runs a rollback on a fresh context: the request's may be what failed.
func (s *Store) undo(ctx context.Context, rollback func(context.Context) error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rollback(rctx); err != nil {
		s.log.ErrorContext(ctx, "undo after a refused or failed request", "err", err)
	}
}

// queueStart adds the start script to a pipeline and returns the function
// that reads its answer once the pipeline ran.
func (s *Store) queueStart(ctx context.Context, pipe redis.Scripter, p otp.StartParams) func() (otp.StartResult, error) {
	keys := s.keys(p.Tag)
	args := append(locator(p.Tag, s.tenant, p.NewID), s.clock(), p.TTL.Milliseconds(), p.Retention.Milliseconds(),
		p.MaxSends, p.Cooldown.Milliseconds(), p.MAC, p.Sealed, p.To, p.Channel,
		p.SendCap.Count, p.SendCap.Period.Milliseconds(), p.FailureLock.Count, p.Locale, p.Brand, p.AppHash, p.DefaultLocale,
		workflowLetters(p.Workflow), p.ChannelTimeout.Milliseconds(), p.Origin.APIKeyID+"|"+p.Origin.ClientIP)
	read := queue(ctx, s.rdb, pipe, startScript, keys, args)
	return func() (otp.StartResult, error) {
		res, err := read()
		if err != nil {
			return otp.StartResult{}, fmt.Errorf("%w: start: %w", otp.ErrUnavailable, err)
		}
		return s.parseStart(p.Tag, res)
	}
}

func (s *Store) parseStart(tag string, res []any) (otp.StartResult, error) {
	out := outcome(str(res, 0))
	if reason, ok := refusals[out]; ok {
		return otp.StartResult{}, &otp.LimitError{Reason: reason, RetryAfter: ms(res, 1)}
	}
	if out == outCollision {
		return otp.StartResult{}, otp.ErrCollision
	}
	v, err := parseVerification(res[2], res[3], time.Time{})
	if err != nil {
		return otp.StartResult{}, err
	}
	r := otp.StartResult{Verification: v, Created: out == outCreated}
	if r.Created {
		// Not v's send count: a replayed start reports the count as it is
		// now, and a resend since then must not be rolled back with it.
		r.Undo = func(ctx context.Context) error { return s.rollbackCreated(ctx, tag, v.ID) }
		return r, nil
	}
	var before []any
	if len(res) > 4 {
		before, _ = res[4].([]any)
	}
	r.Undo = func(ctx context.Context) error {
		return s.rollback(ctx, tag, v.ID, outResent, v.SendAttempts, before...)
	}
	return r, nil
}

// rollbackCreated undoes a start that may or may not have created
// verification id (its reply was lost): if id is the number's current
// verification, it is removed and the one it replaced comes back;
// otherwise nothing happens.
func (s *Store) rollbackCreated(ctx context.Context, tag, id string) error {
	return s.rollback(ctx, tag, id, outCreated, 1)
}

func (s *Store) rollback(ctx context.Context, tag, id string, out outcome, sends int, before ...any) error {
	args := append(append([]any{string(out)}, locator(tag, s.tenant, id)...), sends)
	n, err := rollbackScript.Run(ctx, s.rdb, s.keys(tag), append(args, before...)...).Int()
	if err != nil {
		return fmt.Errorf("%w: rollback: %w", otp.ErrUnavailable, err)
	}
	if n == 2 {
		return otp.ErrSendUnderway
	}
	return nil
}

// Check implements otp.Store.
func (s *Store) Check(ctx context.Context, p otp.CheckParams) (otp.CheckResult, error) {
	keys := s.keys(p.Tag)
	args := append(locator(p.Tag, s.tenant, p.ID), s.clock(), p.MAC, p.MaxChecks, p.To,
		p.FailureLock.Count, p.FailureLock.Period.Milliseconds())
	if s.limits == nil {
		return s.check(ctx, keys, args)
	}
	w, l := s.limits.writeLimits(p.Origin.APIKeyID), s.limits.checkLimits(p.Origin)
	if len(w.keys)+len(l.keys) == 0 {
		return s.check(ctx, keys, args)
	}
	if !s.cluster.Load() {
		// One script takes the limits and checks (checklimits.lua).
		both := w.then(l)
		largs := append(append(slices.Clip(args), both.args[0], len(w.keys)), both.args[1:]...)
		res, err := checkLimitsScript.Run(ctx, s.rdb, append(keys, both.keys...), largs...).Slice()
		if !redis.HasErrorPrefix(err, "CROSSSLOT") {
			return s.readLimitedCheck(res, err, both.reasons)
		}
		// Refused whole, so nothing ran: from now on, the steps apart.
		s.cluster.Store(true)
	}
	// On a Cluster the limits live in other slots than the number: taken
	// first, given back for a right code.
	refund, err := s.limits.takeCheck(ctx, w, l)
	if err != nil {
		return otp.CheckResult{}, err
	}
	r, err := s.check(ctx, keys, args)
	if err == nil && r.Outcome == otp.CheckApproved {
		s.undo(ctx, refund)
	}
	return r, err
}

// readLimitedCheck reads checklimits.lua's answer: a limit's refusal (the
// i-th of reasons), or check.lua's.
func (s *Store) readLimitedCheck(res []any, err error, reasons []otp.LimitReason) (otp.CheckResult, error) {
	if err != nil || outcome(str(res, 0)) != outLimited {
		return s.readCheck(res, err)
	}
	i := num(res, 2)
	if i < 1 || int(i) > len(reasons) {
		return otp.CheckResult{}, fmt.Errorf("%w: check: limit %d of %d refused", otp.ErrUnavailable, i, len(reasons))
	}
	return otp.CheckResult{}, &otp.LimitError{Reason: reasons[i-1], RetryAfter: ms(res, 1)}
}

// check runs check.lua alone.
func (s *Store) check(ctx context.Context, keys []string, args []any) (otp.CheckResult, error) {
	return s.readCheck(checkScript.Run(ctx, s.rdb, keys, args...).Slice())
}

// readCheck reads check.lua's answer.
func (s *Store) readCheck(res []any, err error) (otp.CheckResult, error) {
	if err != nil {
		return otp.CheckResult{}, fmt.Errorf("%w: check: %w", otp.ErrUnavailable, err)
	}
	out := outcome(str(res, 0))
	if out == outNotFound {
		return otp.CheckResult{}, otp.ErrNotFound
	}
	v, err := parseVerification(res[2], res[3], time.Time{})
	if err != nil {
		return otp.CheckResult{}, err
	}
	r := otp.CheckResult{Verification: v, Locked: len(res) > 4 && res[4] == int64(1)}
	if reason, ok := refusals[out]; ok {
		return r, &otp.LimitError{Reason: reason, RetryAfter: ms(res, 1)}
	}
	switch out {
	case outFinished:
		return r, &otp.FinishedError{Status: v.Status}
	case outApproved:
		r.Outcome = otp.CheckApproved
	case outWrong:
		r.Outcome = otp.CheckWrong
	case outExhausted:
		r.Outcome = otp.CheckExhausted
	}
	return r, nil
}

// Cancel implements otp.Store.
func (s *Store) Cancel(ctx context.Context, id string) (v otp.Verification, now bool, err error) {
	tag, _ := otp.TagOfID(id)
	res, err := cancelScript.Run(ctx, s.rdb, []string{recordKey(tag, s.tenant)}, append(locator(tag, s.tenant, id), s.clock())...).Slice()
	if err != nil {
		return v, false, fmt.Errorf("%w: cancel: %w", otp.ErrUnavailable, err)
	}
	out := outcome(str(res, 0))
	if out == outNotFound {
		return v, false, otp.ErrNotFound
	}
	if v, err = parseVerification(id, res[2], time.Time{}); err != nil {
		return otp.Verification{}, false, err
	}
	if reason, ok := refusals[out]; ok {
		return v, false, &otp.LimitError{Reason: reason, RetryAfter: ms(res, 1)}
	}
	if out == outFinished {
		return v, false, &otp.FinishedError{Status: v.Status}
	}
	return v, out == outCanceled, nil
}

// Get implements otp.Store: expiry is applied on read, by the script's
// clock, so a pending verification past its expiry reads as expired.
func (s *Store) Get(ctx context.Context, id string) (otp.Verification, error) {
	tag, _ := otp.TagOfID(id)
	res, err := viewScript.Run(ctx, s.rdb, []string{recordKey(tag, s.tenant)}, append(locator(tag, s.tenant, id), s.clock())...).Slice()
	if err != nil {
		return otp.Verification{}, fmt.Errorf("%w: get: %w", otp.ErrUnavailable, err)
	}
	if str(res, 1) == "" {
		return otp.Verification{}, otp.ErrNotFound
	}
	return parseVerification(id, res[1], time.UnixMilli(num(res, 0)))
}

// SealedCode is the sealed code of verification id while it is the
// number's pending one ("" once the code is dead or the verification was
// replaced), for tests and operator tools; the worker reads it through
// Claim, which also claims the attempt.
func (s *Store) SealedCode(ctx context.Context, id string) (string, error) {
	v, err := s.Get(ctx, id)
	if err != nil || v.Status != otp.StatusPending {
		return "", err
	}
	// A second round trip: only tests and tools ask for the code.
	tag, _ := otp.TagOfID(id)
	rs, err := s.rdb.HMGet(ctx, recordKey(tag, s.tenant), fieldRand, fieldSealed).Result()
	if err != nil {
		return "", fmt.Errorf("%w: get: %w", otp.ErrUnavailable, err)
	}
	if r, _ := rs[0].(string); r != randOf(tag, id) {
		return "", nil
	}
	sealed, _ := rs[1].(string)
	return sealed, nil
}

// str, num and ms read element i of a script's reply.
func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	s, _ := res[i].(string)
	return s
}

func num(res []any, i int) int64 {
	if i >= len(res) {
		return 0
	}
	n, _ := res[i].(int64)
	return n
}

func ms(res []any, i int) time.Duration { return time.Duration(num(res, i)) * time.Millisecond }

func isLimit(err error) bool {
	var le *otp.LimitError
	return errors.As(err, &le)
}
