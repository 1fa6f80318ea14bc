package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/otp"
)

// Idempotency implements idempotency.Store. A key's Redis value is one
// string:
//
//	'p' fingerprint token          claimed: the first request runs
//	'd' fingerprint answer         done: its answer (idempotency.Answer.Encode)
//
// The token, 8 random bytes, tells this run's claim from a retry's once it
// expired.
//
// With a cap (WithCap), each API key keeps at most that many answers at
// once: a claim counts toward it (a window.lua limit whose period is
// idempotency.TTL, so no TTL holds more than the cap: no more are alive),
// an answer not kept gives its count back, and a claim at the cap is
// refused before the request runs.
type Idempotency struct {
	rdb   redis.UniversalClient
	cap   int
	parts []string         // hash tags, when the answers are split (WithParts)
	now   func() time.Time // nil: the Redis server's clock
}

// NewIdempotency keeps Idempotency-Key answers in rdb, without a cap.
func NewIdempotency(rdb redis.UniversalClient) *Idempotency { return &Idempotency{rdb: rdb} }

// WithCap caps the answers one API key keeps at once (0: no cap).
func (s *Idempotency) WithCap(n int) *Idempotency { s.cap = n; return s }

// WithParts splits each API key's answers into len(tags) parts, for a
// Redis Cluster (QUEUE_SHARDS): an answer lives in the part its key's
// digest picks, under the part's hash tag, each part capped at the cap
// divided by the parts, rounded up. One API key's answers, and the
// round trips that claim and keep them, then spread over the masters.
func (s *Idempotency) WithParts(tags []string) *Idempotency {
	if len(tags) > 1 {
		s.parts = tags
	}
	return s
}

// WithClock judges the cap's window by now instead of the Redis server's
// clock (the answers' TTLs stay Redis's own).
func (s *Idempotency) WithClock(now func() time.Time) *Idempotency { s.now = now; return s }

const (
	claimed = 'p'
	done    = 'd'
)

// clock is the scripts' now argument.
func (s *Idempotency) clock() any {
	if s.now == nil {
		return ""
	}
	return s.now().UnixMilli()
}

// Claim implements idempotency.Store (idemclaim.lua).
func (s *Idempotency) Claim(ctx context.Context, scope, key string, fp idempotency.Fingerprint) (*idempotency.Claim, idempotency.State, idempotency.Answer, error) {
	sum := sha256.Sum256([]byte(key))
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, 0, idempotency.Answer{}, fmt.Errorf("redisstore: idempotency claim: %w", err)
	}
	part, capped := "", s.cap
	if len(s.parts) > 1 {
		part = s.parts[binary.BigEndian.Uint32(sum[16:20])%uint32(len(s.parts))]
		capped = (s.cap + len(s.parts) - 1) / len(s.parts)
	}
	prefix := idempotencyPrefix(part, scope)
	c := &idempotency.Claim{Key: idempotencyKey(prefix, [16]byte(sum[:16])), CountKey: idempotencyCountKey(prefix),
		Token: string(claimed) + string(fp[:]) + string(token[:])}
	res, err := idemClaimScript.Run(ctx, s.rdb, []string{c.Key, c.CountKey}, c.Token, idempotency.Hold.Milliseconds(),
		capped, idempotency.TTL.Milliseconds(), s.clock()).Slice()
	if err != nil {
		return nil, 0, idempotency.Answer{}, fmt.Errorf("%w: idempotency key: %w", otp.ErrUnavailable, err)
	}
	switch state, _ := res[0].(int64); state {
	case 0:
		c.Counted, _ = res[1].(int64)
		return c, idempotency.New, idempotency.Answer{}, nil
	case 2:
		wait, _ := res[1].(int64)
		return nil, 0, idempotency.Answer{}, &otp.LimitError{Reason: otp.LimitIdempotencyKeys, RetryAfter: time.Duration(wait) * time.Millisecond}
	}
	old, _ := res[1].(string)
	if len(old) < 1+len(fp) || old[1:1+len(fp)] != string(fp[:]) {
		return nil, idempotency.Reused, idempotency.Answer{}, nil
	}
	if old[0] == claimed {
		return nil, idempotency.InProgress, idempotency.Answer{}, nil
	}
	a, ok := idempotency.Decode(old[1+len(fp):])
	if old[0] != done || !ok {
		// Not a value this code writes: someone else's, or corrupt. Not
		// replayed, and not overwritten: the client may use another key.
		return nil, idempotency.Reused, idempotency.Answer{}, nil
	}
	return nil, idempotency.Done, a, nil
}

// Keep implements idempotency.Store (keep.lua).
func (s *Idempotency) Keep(ctx context.Context, c *idempotency.Claim, a idempotency.Answer) (bool, error) {
	fp := c.Token[1 : 1+len(idempotency.Fingerprint{})]
	value := append([]byte{done}, fp...)
	value = append(value, a.Encode()...)
	n, err := keepScript.Run(ctx, s.rdb, []string{c.Key, c.CountKey}, c.Token, value, idempotency.TTL.Milliseconds(),
		c.Counted, s.clock()).Int()
	if err != nil {
		return false, fmt.Errorf("%w: keep an idempotent answer: %w", otp.ErrUnavailable, err)
	}
	return n == 1, nil
}

// Forget implements idempotency.Store (forget.lua).
func (s *Idempotency) Forget(ctx context.Context, c *idempotency.Claim) error {
	err := forgetScript.Run(ctx, s.rdb, []string{c.Key, c.CountKey}, c.Token, idempotency.TTL.Milliseconds(),
		c.Counted, s.clock()).Err()
	if err != nil {
		return fmt.Errorf("%w: forget an idempotency key: %w", otp.ErrUnavailable, err)
	}
	return nil
}
