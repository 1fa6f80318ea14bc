package otp

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/start.lua
	startLua string
	//go:embed lua/rollback.lua
	rollbackLua string
	//go:embed lua/check.lua
	checkLua string
	//go:embed lua/cancel.lua
	cancelLua string
	//go:embed lua/attempt.lua
	attemptLua string

	startScript    = redis.NewScript(startLua)
	rollbackScript = redis.NewScript(rollbackLua)
	checkScript    = redis.NewScript(checkLua)
	cancelScript   = redis.NewScript(cancelLua)
	attemptScript  = redis.NewScript(attemptLua)
)

// Store is the only place that talks to Redis about verifications. Each
// method is one round trip (a Lua script or a pipeline), so every rule is
// applied atomically and works unchanged on Redis Cluster.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore wraps a Redis client.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// StartParams is everything the start script needs.
type StartParams struct {
	Tag, NewID, To, Channel string
	MAC, Sealed             string
	Now                     time.Time
	TTL, Retention          time.Duration
	MaxSends                int
	Cooldown                time.Duration
	SendCap                 Window // sends per number across verifications
	FailureLock             Window // wrong codes per number that lock it
}

// Window is "Count per Period"; Count 0 is off.
type Window struct {
	Count  int
	Period time.Duration
}

// StartResult says what start did, and how to undo it.
type StartResult struct {
	Verification Verification
	Created      bool
	undo         string // previous id (created) or last-send time (resent)
}

// Start creates a verification or records a resend on the pending one.
// Refusals come back as *LimitError.
func (s *Store) Start(ctx context.Context, p StartParams) (StartResult, error) {
	return s.QueueStart(ctx, s.rdb, p)()
}

// Pipeline returns a pipeline on the store's client, for QueueStart.
func (s *Store) Pipeline() redis.Pipeliner { return s.rdb.Pipeline() }

// QueueStart adds the start script to a pipeline, so that it shares a round
// trip with other commands, and returns the function that reads its answer
// once the pipeline ran. With the client instead of a pipeline it runs at
// once.
func (s *Store) QueueStart(ctx context.Context, pipe redis.Scripter, p StartParams) func() (StartResult, error) {
	keys := []string{numberKey(p.Tag, p.To), verificationKey(p.Tag, p.NewID), codeKey(p.Tag, p.NewID),
		sendsKey(p.Tag, p.To), failuresKey(p.Tag, p.To)}
	args := []any{keyPrefix(p.Tag), p.NewID, ms(p.Now), p.TTL.Milliseconds(), p.Retention.Milliseconds(),
		p.MaxSends, p.Cooldown.Milliseconds(), p.MAC, p.Sealed, p.To, p.Channel,
		p.SendCap.Count, p.SendCap.Period.Milliseconds(), p.FailureLock.Count}
	cmd := startScript.EvalSha(ctx, pipe, keys, args...)
	return func() (StartResult, error) {
		res, err := cmd.Slice()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Script cache empty (restart, failover): the script did not
			// run, so running it now is its first run.
			res, err = startScript.Run(ctx, s.rdb, keys, args...).Slice()
		}
		if err != nil {
			return StartResult{}, fmt.Errorf("%w: start: %w", ErrUnavailable, err)
		}
		return parseStart(res)
	}
}

func parseStart(res []any) (StartResult, error) {
	outcome, retry := res[0].(int64), res[1].(int64)
	switch outcome {
	case -1:
		return StartResult{}, &LimitError{Reason: LimitCooldown, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -2:
		return StartResult{}, &LimitError{Reason: LimitMaxSends, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -3:
		return StartResult{}, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -4:
		return StartResult{}, &LimitError{Reason: LimitFailedChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -5:
		return StartResult{}, &LimitError{Reason: LimitToCap, RetryAfter: time.Duration(retry) * time.Millisecond}
	}
	v, err := parseVerification(res[2], res[3])
	if err != nil {
		return StartResult{}, err
	}
	r := StartResult{Verification: v, Created: outcome == 1}
	if u, ok := res[4].(string); ok {
		r.undo = u
	}
	return r, nil
}

// Rollback undoes a Start whose task could not be enqueued.
func (s *Store) Rollback(ctx context.Context, tag string, r StartResult, retention time.Duration) error {
	v := r.Verification
	keys := []string{numberKey(tag, v.To), verificationKey(tag, v.ID), codeKey(tag, v.ID), sendsKey(tag, v.To)}
	args := []any{"2", v.ID, v.SendAttempts, r.undo}
	if r.Created {
		args = []any{"1", v.ID, v.SendAttempts, r.undo, retention.Milliseconds()}
	}
	if err := rollbackScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("%w: rollback: %w", ErrUnavailable, err)
	}
	return nil
}

// RollbackCreated undoes a Start that may or may not have created
// verification id (its reply was lost): if the number points at id, the
// verification is removed; otherwise nothing happens.
func (s *Store) RollbackCreated(ctx context.Context, tag, to, id string) error {
	keys := []string{numberKey(tag, to), verificationKey(tag, id), codeKey(tag, id), sendsKey(tag, to)}
	if err := rollbackScript.Run(ctx, s.rdb, keys, "1", id, 1, "", 0).Err(); err != nil {
		return fmt.Errorf("%w: rollback: %w", ErrUnavailable, err)
	}
	return nil
}

// CheckOutcome is the result of one check.
type CheckOutcome int

const (
	CheckApproved  CheckOutcome = iota + 1 // right code
	CheckWrong                             // wrong code, attempts left
	CheckExhausted                         // wrong code, that was the last attempt
)

// CheckParams identifies the verification by id or by number (To).
type CheckParams struct {
	Tag, ID, To string
	MAC         string
	Now         time.Time
	MaxChecks   int
	FailureLock Window // wrong codes per number, across verifications
}

// Check applies one code attempt. A verification that is not pending gives
// *FinishedError (with the verification when known) or ErrNotFound; one
// locked by failed attempts gives *LimitError.
func (s *Store) Check(ctx context.Context, p CheckParams) (Verification, CheckOutcome, error) {
	key, mode := numberKey(p.Tag, p.To), "n"
	if p.ID != "" {
		key, mode = verificationKey(p.Tag, p.ID), "v"
	}
	res, err := checkScript.Run(ctx, s.rdb, []string{key},
		keyPrefix(p.Tag), mode, p.ID, ms(p.Now), p.MAC, p.MaxChecks, p.To,
		p.FailureLock.Count, p.FailureLock.Period.Milliseconds()).Slice()
	if err != nil {
		return Verification{}, 0, fmt.Errorf("%w: check: %w", ErrUnavailable, err)
	}
	outcome, retry := res[0].(int64), res[1].(int64)
	if outcome == 0 {
		return Verification{}, 0, ErrNotFound
	}
	v, err := parseVerification(res[2], res[3])
	if err != nil {
		return Verification{}, 0, err
	}
	switch outcome {
	case -4:
		return v, 0, &LimitError{Reason: LimitFailedChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -3:
		return v, 0, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -1:
		return v, 0, &FinishedError{Status: v.Status}
	}
	return v, CheckOutcome(outcome), nil
}

// Cancel ends a pending verification.
func (s *Store) Cancel(ctx context.Context, tag, id string, now time.Time) (Verification, error) {
	res, err := cancelScript.Run(ctx, s.rdb, []string{verificationKey(tag, id), codeKey(tag, id)}, ms(now)).Slice()
	if err != nil {
		return Verification{}, fmt.Errorf("%w: cancel: %w", ErrUnavailable, err)
	}
	outcome, retry := res[0].(int64), res[1].(int64)
	if outcome == 0 {
		return Verification{}, ErrNotFound
	}
	v, err := parseVerification(id, res[2])
	if err != nil {
		return Verification{}, err
	}
	switch outcome {
	case -3:
		return v, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -1:
		return v, &FinishedError{Status: v.Status}
	}
	return v, nil
}

// Get reads a verification. Expiry is applied on read, from the caller's
// clock, so a pending verification past its expiry reads as expired.
func (s *Store) Get(ctx context.Context, tag, id string, now time.Time) (Verification, error) {
	m, err := s.rdb.HGetAll(ctx, verificationKey(tag, id)).Result()
	if err != nil {
		return Verification{}, fmt.Errorf("%w: get: %w", ErrUnavailable, err)
	}
	if len(m) == 0 {
		return Verification{}, ErrNotFound
	}
	v, err := fromMap(m)
	if err != nil {
		return Verification{}, err
	}
	v.ID = id
	expireOnRead(&v, now)
	return v, nil
}

// GetWithSealed is Get plus the sealed code, in one round trip, for tests
// and operator tools; the worker reads the code through ClaimSend, which
// also claims the attempt. sealed is "" once the code is dead (approved,
// canceled, expired, locked).
func (s *Store) GetWithSealed(ctx context.Context, tag, id string, now time.Time) (v Verification, sealed string, err error) {
	var all *redis.MapStringStringCmd
	var code *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, verificationKey(tag, id))
		code = p.HGet(ctx, codeKey(tag, id), "e")
		return nil
	})
	if err != nil && err != redis.Nil {
		return v, "", fmt.Errorf("%w: get with sealed code: %w", ErrUnavailable, err)
	}
	if len(all.Val()) == 0 {
		return v, "", ErrNotFound
	}
	if v, err = fromMap(all.Val()); err != nil {
		return v, "", err
	}
	v.ID = id
	expireOnRead(&v, now)
	return v, code.Val(), nil
}

// Claim is what a send attempt's claim found.
type Claim struct {
	// Outcome says whether to send.
	Outcome ClaimOutcome
	// Claimed: the verification's number, expiry and sealed code. Claims > 1
	// means an earlier run claimed the attempt and died mid-request.
	To        string
	ExpiresAt time.Time
	Sealed    string
	Claims    int
	QueuedAt  time.Time // when the send was requested
	// AlreadySent: the MessageSid Twilio gave the earlier run.
	MessageSID string
	// Busy: how long until a live run's claim goes stale.
	Wait time.Duration
	// Skip: why there is nothing to send (expired, canceled, superseded …).
	Reason string
}

// ClaimOutcome is the result of ClaimSend.
type ClaimOutcome int

const (
	ClaimSkip        ClaimOutcome = iota // nothing to send
	ClaimSend                            // claimed: call the gateway
	ClaimAlreadySent                     // an earlier run's message was accepted
	ClaimBusy                            // another live run holds the claim
)

// ClaimSend takes the right to call the gateway for one send attempt and
// reads what the call needs, in one round trip. A claim older than stale is
// presumed dead and taken over.
func (s *Store) ClaimSend(ctx context.Context, tag, id string, attempt int, now time.Time, stale time.Duration) (Claim, error) {
	res, err := attemptScript.Run(ctx, s.rdb, []string{verificationKey(tag, id), codeKey(tag, id)},
		"claim", attempt, ms(now), stale.Milliseconds()).Slice()
	if err != nil {
		return Claim{}, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
	}
	switch res[0].(int64) {
	case 1:
		return Claim{Outcome: ClaimSend, Claims: int(res[1].(int64)), To: res[2].(string),
			ExpiresAt: time.UnixMilli(res[3].(int64)).UTC(), Sealed: res[4].(string),
			QueuedAt: time.UnixMilli(res[5].(int64)).UTC()}, nil
	case 2:
		return Claim{Outcome: ClaimAlreadySent, MessageSID: res[1].(string)}, nil
	case 3:
		return Claim{Outcome: ClaimBusy, Wait: time.Duration(res[1].(int64)) * time.Millisecond}, nil
	default:
		return Claim{Outcome: ClaimSkip, Reason: res[1].(string)}, nil
	}
}

// ReleaseSend drops the claim of an attempt the gateway refused with a
// retryable error: nothing was sent, so the retry need not wait.
func (s *Store) ReleaseSend(ctx context.Context, tag, id string, attempt int, now time.Time, errorCode int) error {
	err := attemptScript.Run(ctx, s.rdb, []string{verificationKey(tag, id), codeKey(tag, id)},
		"release", attempt, ms(now), errorCode).Err()
	if err != nil {
		return fmt.Errorf("%w: release: %w", ErrUnavailable, err)
	}
	return nil
}

// AttemptUpdate is a report on one send attempt.
type AttemptUpdate struct {
	Status     DeliveryStatus
	MessageSID string
	ErrorCode  int
	Reason     string
	At         time.Time
}

// RecordAttempt stores a report from the worker. Statuses only move
// forward; it reports false when the report was stale and ignored.
func (s *Store) RecordAttempt(ctx context.Context, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	return s.attemptUpdate(ctx, "record", tag, id, attempt, u)
}

// RecordCallback stores a delivery report from the gateway's status
// callback; it is ignored when the MessageSid belongs to another message.
func (s *Store) RecordCallback(ctx context.Context, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	return s.attemptUpdate(ctx, "callback", tag, id, attempt, u)
}

func (s *Store) attemptUpdate(ctx context.Context, op, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	n, err := attemptScript.Run(ctx, s.rdb, []string{verificationKey(tag, id), codeKey(tag, id)},
		op, attempt, ms(u.At), string(u.Status), u.MessageSID, u.ErrorCode, u.Reason).Int()
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return n == 1, nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

func expireOnRead(v *Verification, now time.Time) {
	if v.Status == StatusPending && !now.Before(v.ExpiresAt) {
		v.Status = StatusExpired
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func parseVerification(id, x any) (Verification, error) {
	flat, ok := x.([]any)
	sid, ok2 := id.(string)
	if !ok || !ok2 || len(flat)%2 != 0 {
		return Verification{}, fmt.Errorf("otp: unexpected script reply %T %T", id, x)
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	v, err := fromMap(m)
	v.ID = sid
	return v, err
}

func fromMap(m map[string]string) (Verification, error) {
	var v Verification
	var err error
	num := func(k string) int64 {
		n, e := strconv.ParseInt(m[k], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("otp: corrupt field %q", k)
		}
		return n
	}
	v.To = m["to"]
	v.Channel = m["ch"]
	v.Status = Status(m["st"])
	v.SendAttempts = int(num("sends"))
	v.CheckAttempts = int(num("checks"))
	v.CreatedAt = time.UnixMilli(num("cr")).UTC()
	v.ExpiresAt = time.UnixMilli(num("exp")).UTC()
	v.LastSendAt = time.UnixMilli(num("last")).UTC()
	v.Attempts = make([]Attempt, 0, v.SendAttempts)
	for i := 1; i <= v.SendAttempts && err == nil; i++ {
		n := strconv.Itoa(i)
		a, perr := parseAttempt(i, m["a"+n], m["i"+n], v.CreatedAt)
		if perr != nil {
			err = perr
		}
		v.Attempts = append(v.Attempts, a)
	}
	if n := len(v.Attempts); n > 0 {
		last := v.Attempts[n-1]
		v.Delivery = Delivery{Status: last.Status, MessageSID: last.MessageSID, ErrorCode: last.ErrorCode,
			Reason: last.Reason, UpdatedAt: last.UpdatedAt}
	}
	return v, err
}

// parseAttempt reads "queued|claimed|claims|status|errorCode|updated|reason"
// (times in ms after created; see attempt.lua) and the attempt's sid.
func parseAttempt(n int, raw, sid string, created time.Time) (Attempt, error) {
	p := strings.Split(raw, "|")
	st, ok := statusLetters[p[min(3, len(p)-1)]]
	if len(p) != 7 || !ok {
		return Attempt{}, fmt.Errorf("otp: corrupt attempt %d", n)
	}
	num := func(s string) int64 { x, _ := strconv.ParseInt(s, 10, 64); return x }
	return Attempt{
		Attempt:    n,
		QueuedAt:   created.Add(time.Duration(num(p[0])) * time.Millisecond),
		MessageSID: sid,
		Status:     st,
		ErrorCode:  int(num(p[4])),
		UpdatedAt:  created.Add(time.Duration(num(p[5])) * time.Millisecond),
		Reason:     p[6],
	}, nil
}

// statusLetters decodes attempt.lua's one-letter statuses.
var statusLetters = map[string]DeliveryStatus{
	"q": DeliveryQueued, "s": DeliverySending, "t": DeliverySent,
	"d": DeliveryDelivered, "u": DeliveryUndelivered, "f": DeliveryFailed,
}
