package otp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
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
	//go:embed lua/delivery.lua
	deliveryLua string

	startScript    = redis.NewScript(startLua)
	rollbackScript = redis.NewScript(rollbackLua)
	checkScript    = redis.NewScript(checkLua)
	cancelScript   = redis.NewScript(cancelLua)
	deliveryScript = redis.NewScript(deliveryLua)
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
}

// StartResult says what start did, and how to undo it.
type StartResult struct {
	Verification Verification
	Created      bool
	undo         []string
}

// Start creates a verification or records a resend on the pending one.
// Refusals come back as *LimitError.
func (s *Store) Start(ctx context.Context, p StartParams) (StartResult, error) {
	res, err := startScript.Run(ctx, s.rdb,
		[]string{numberKey(p.Tag, p.To), verificationKey(p.Tag, p.NewID), codeKey(p.Tag, p.NewID)},
		keyPrefix(p.Tag), p.NewID, ms(p.Now), p.TTL.Milliseconds(), p.Retention.Milliseconds(),
		p.MaxSends, p.Cooldown.Milliseconds(), p.MAC, p.Sealed, p.To, p.Channel,
	).Slice()
	if err != nil {
		return StartResult{}, fmt.Errorf("%w: start: %w", ErrUnavailable, err)
	}
	outcome, retry := res[0].(int64), res[1].(int64)
	switch outcome {
	case -1:
		return StartResult{}, &LimitError{Reason: LimitCooldown, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -2:
		return StartResult{}, &LimitError{Reason: LimitMaxSends, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -3:
		return StartResult{}, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	}
	v, err := parseVerification(res[2], res[3])
	if err != nil {
		return StartResult{}, err
	}
	r := StartResult{Verification: v, Created: outcome == 1}
	switch u := res[4].(type) {
	case string:
		r.undo = []string{u}
	case []any:
		for _, x := range u {
			s, _ := x.(string)
			r.undo = append(r.undo, s)
		}
	}
	return r, nil
}

// Rollback undoes a Start whose task could not be enqueued.
func (s *Store) Rollback(ctx context.Context, tag string, r StartResult, retention time.Duration) error {
	v := r.Verification
	keys := []string{numberKey(tag, v.To), verificationKey(tag, v.ID), codeKey(tag, v.ID)}
	args := []any{"2", v.ID, v.SendAttempts}
	if r.Created {
		args[0] = "1"
		args = append(args, r.undo[0], retention.Milliseconds())
	} else {
		for _, u := range r.undo {
			args = append(args, u)
		}
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
	keys := []string{numberKey(tag, to), verificationKey(tag, id), codeKey(tag, id)}
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
		keyPrefix(p.Tag), mode, p.ID, ms(p.Now), p.MAC, p.MaxChecks, p.To).Slice()
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

// GetForSend reads a verification and its sealed code in one round trip.
// sealed is "" once the code is dead (approved, canceled, expired, locked).
func (s *Store) GetForSend(ctx context.Context, tag, id string, now time.Time) (v Verification, sealed string, err error) {
	var all *redis.MapStringStringCmd
	var code *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, verificationKey(tag, id))
		code = p.HGet(ctx, codeKey(tag, id), "e")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return v, "", fmt.Errorf("%w: load for send: %w", ErrUnavailable, err)
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

// RecordDelivery stores the outcome of send attempt n. It reports false when
// the verification is gone or a later attempt owns the delivery fields.
func (s *Store) RecordDelivery(ctx context.Context, tag, id string, attempt int, d Delivery) (bool, error) {
	n, err := deliveryScript.Run(ctx, s.rdb, []string{verificationKey(tag, id)},
		attempt, string(d.Status), d.MessageSID, d.ErrorCode, ms(d.UpdatedAt)).Int()
	if err != nil {
		return false, fmt.Errorf("%w: record delivery: %w", ErrUnavailable, err)
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
	v.Delivery = Delivery{
		Status:     DeliveryStatus(m["ds"]),
		MessageSID: m["sid"],
		ErrorCode:  int(num("ec")),
		UpdatedAt:  time.UnixMilli(num("du")).UTC(),
	}
	return v, err
}
