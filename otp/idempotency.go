package otp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// An Idempotency-Key (IETF httpapi draft) lets a backend retry a start or
// a cancel after a timeout without a second SMS or a cooldown refusal: the
// first answer is kept, per API key, and replayed.
//
// A key's Redis value is one string:
//
//	'p' fingerprint token                claimed: the first request runs
//	'd' fingerprint status(3) ctype(1) location '\n' body
//	                                     done: its answer
//
// The fingerprint is 16 bytes of SHA-256 over the request's method, path
// and body; the token, 8 random bytes, tells this run's claim from a
// retry's once it expired; ctype 'j' is application/json, 'p'
// application/problem+json.
const (
	// IdempotencyTTL is how long an answer is replayed.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyHold bounds a claim whose request never finished (its
	// process died): retries are told to wait until then, and then run.
	// It is well above the API's request timeout.
	IdempotencyHold = 15 * time.Second
)

// Fingerprint identifies a request for its Idempotency-Key: the same key
// with another fingerprint is a reuse, not a retry.
type Fingerprint [16]byte

// RequestFingerprint hashes what makes two requests the same one.
func RequestFingerprint(method, path string, body []byte) Fingerprint {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{' '})
	h.Write([]byte(path))
	h.Write([]byte{'\n'})
	h.Write(body)
	var f Fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// IdempotencyState is what a claim found.
type IdempotencyState int

const (
	IdempotencyNew        IdempotencyState = iota // claimed: run the request
	IdempotencyInProgress                         // the first request still runs
	IdempotencyDone                               // its answer is kept: replay it
	IdempotencyReused                             // the key was used for another request
)

// Answer is a kept HTTP answer.
type Answer struct {
	Status int
	// Problem says the body is application/problem+json, not application/json.
	Problem  bool
	Location string
	Body     []byte
}

// Idempotency is one request's Idempotency-Key, claimed or found.
type Idempotency struct {
	key   string
	claim string
	fp    Fingerprint
}

// ClaimIdempotency claims scope's key for the request fp: in one round trip
// (SET NX GET) it either claims it, or reads what holds it.
func (s *Store) ClaimIdempotency(ctx context.Context, scope, key string, fp Fingerprint) (*Idempotency, IdempotencyState, Answer, error) {
	sum := sha256.Sum256([]byte(key))
	id := &Idempotency{key: idempotencyKey(scope, [16]byte(sum[:16])), fp: fp}
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, 0, Answer{}, fmt.Errorf("otp: idempotency claim: %w", err)
	}
	id.claim = "p" + string(fp[:]) + string(token[:])
	old, err := s.rdb.SetArgs(ctx, id.key, id.claim, redis.SetArgs{Mode: "NX", Get: true, TTL: IdempotencyHold}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return id, IdempotencyNew, Answer{}, nil
	case err != nil:
		return nil, 0, Answer{}, fmt.Errorf("%w: idempotency key: %w", ErrUnavailable, err)
	}
	if len(old) < 1+len(fp) || old[1:1+len(fp)] != string(fp[:]) {
		return nil, IdempotencyReused, Answer{}, nil
	}
	if old[0] == 'p' {
		return nil, IdempotencyInProgress, Answer{}, nil
	}
	a, ok := parseAnswer(old[1+len(fp):])
	if old[0] != 'd' || !ok {
		// Not a value this code writes: someone else's, or corrupt. Not
		// replayed, and not overwritten: the client may use another key.
		return nil, IdempotencyReused, Answer{}, nil
	}
	return nil, IdempotencyDone, a, nil
}

// Keep stores the claimed request's answer for IdempotencyTTL, unless its
// claim expired meanwhile (then kept reports false).
func (s *Store) Keep(ctx context.Context, id *Idempotency, a Answer) (kept bool, err error) {
	var b bytes.Buffer
	b.Grow(1 + len(id.fp) + 4 + len(a.Location) + 1 + len(a.Body))
	b.WriteByte('d')
	b.Write(id.fp[:])
	fmt.Fprintf(&b, "%03d", a.Status)
	if a.Problem {
		b.WriteByte('p')
	} else {
		b.WriteByte('j')
	}
	b.WriteString(a.Location)
	b.WriteByte('\n')
	b.Write(a.Body)
	n, err := keepScript.Run(ctx, s.rdb, []string{id.key}, id.claim, b.Bytes(), IdempotencyTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("%w: keep an idempotent answer: %w", ErrUnavailable, err)
	}
	return n == 1, nil
}

// Forget drops the claim, so a retry runs the request again: its answer
// is not one to replay (a 429, a 5xx).
func (s *Store) Forget(ctx context.Context, id *Idempotency) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{id.key}, id.claim).Err(); err != nil {
		return fmt.Errorf("%w: forget an idempotency key: %w", ErrUnavailable, err)
	}
	return nil
}

func parseAnswer(s string) (Answer, bool) {
	if len(s) < 5 {
		return Answer{}, false
	}
	status, err := strconv.Atoi(s[:3])
	if err != nil || status < 100 || status > 599 || (s[3] != 'j' && s[3] != 'p') {
		return Answer{}, false
	}
	loc, body, ok := strings.Cut(s[4:], "\n")
	if !ok {
		return Answer{}, false
	}
	return Answer{Status: status, Problem: s[3] == 'p', Location: loc, Body: []byte(body)}, true
}
