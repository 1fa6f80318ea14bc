package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

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
type Idempotency struct{ rdb redis.UniversalClient }

// NewIdempotency keeps Idempotency-Key answers in rdb.
func NewIdempotency(rdb redis.UniversalClient) *Idempotency { return &Idempotency{rdb: rdb} }

const (
	claimed = 'p'
	done    = 'd'
)

// Claim implements idempotency.Store with SET NX GET.
func (s *Idempotency) Claim(ctx context.Context, scope, key string, fp idempotency.Fingerprint) (*idempotency.Claim, idempotency.State, idempotency.Answer, error) {
	sum := sha256.Sum256([]byte(key))
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, 0, idempotency.Answer{}, fmt.Errorf("redisstore: idempotency claim: %w", err)
	}
	c := &idempotency.Claim{Key: idempotencyKey(scope, [16]byte(sum[:16])), Token: string(claimed) + string(fp[:]) + string(token[:])}
	old, err := s.rdb.SetArgs(ctx, c.Key, c.Token, redis.SetArgs{Mode: "NX", Get: true, TTL: idempotency.Hold}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return c, idempotency.New, idempotency.Answer{}, nil
	case err != nil:
		return nil, 0, idempotency.Answer{}, fmt.Errorf("%w: idempotency key: %w", otp.ErrUnavailable, err)
	}
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
	n, err := keepScript.Run(ctx, s.rdb, []string{c.Key}, c.Token, value, idempotency.TTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("%w: keep an idempotent answer: %w", otp.ErrUnavailable, err)
	}
	return n == 1, nil
}

// Forget implements idempotency.Store (forget.lua).
func (s *Idempotency) Forget(ctx context.Context, c *idempotency.Claim) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{c.Key}, c.Token).Err(); err != nil {
		return fmt.Errorf("%w: forget an idempotency key: %w", otp.ErrUnavailable, err)
	}
	return nil
}
