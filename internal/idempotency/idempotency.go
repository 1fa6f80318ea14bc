// Package idempotency is what the api's Idempotency-Key (IETF httpapi
// draft) keeps: a backend may retry a start or a cancel after a timeout
// without a second SMS or a cooldown refusal, because the first answer is
// kept, per API key, and replayed. cmd/api reads the header and serves the
// answers; a Store (otp/redisstore's) keeps them.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// TTL is how long an answer is replayed.
	TTL = 24 * time.Hour
	// Hold bounds a claim whose request never finished (its process died):
	// retries are told to wait until then, and then run. It is well above
	// the API's request timeout.
	Hold = 15 * time.Second
)

// Store claims keys and keeps answers.
type Store interface {
	// Claim claims scope's key for the request fp, in one round trip: it
	// either claims it (New), or finds what holds it. With Done, the
	// answer is the one kept. A Store may cap the answers one scope keeps
	// at once: a new claim at the cap is refused with an error (the Redis
	// Store's is an *otp.LimitError), before the request runs.
	Claim(ctx context.Context, scope, key string, fp Fingerprint) (*Claim, State, Answer, error)
	// Keep stores the claimed request's answer for TTL, unless its claim
	// expired meanwhile (then kept reports false).
	Keep(ctx context.Context, c *Claim, a Answer) (kept bool, err error)
	// Forget drops the claim, so that a retry runs the request again: its
	// answer is not one to replay (a 429, a 5xx).
	Forget(ctx context.Context, c *Claim) error
}

// Claim is one request's claim of a key, as its Store made it.
type Claim struct {
	// Key is where the Store keeps it, and Token what the claim holds
	// there, which tells this run's claim from a retry's once it expired.
	Key, Token string
	// CountKey and Counted are where and when (unix ms) the Store counted
	// the claim toward its scope's cap (Counted 0: no cap): a request
	// whose answer is not kept gives it back.
	CountKey string
	Counted  int64
}

// State is what a claim found.
type State int

const (
	New        State = iota // claimed: run the request
	InProgress              // the first request still runs
	Done                    // its answer is kept: replay it
	Reused                  // the key was used for another request
)

// Fingerprint identifies a request for its Idempotency-Key: the same key
// with another fingerprint is a reuse, not a retry.
type Fingerprint [16]byte

// RequestFingerprint hashes what makes two requests the same one: 16 bytes
// of SHA-256 over the request's method, path and body.
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

// Answer is a kept HTTP answer.
type Answer struct {
	Status int
	// Problem says the body is application/problem+json, not application/json.
	Problem  bool
	Location string
	Body     []byte
}

// Encode is the answer at rest: status(3) ctype(1) location '\n' body,
// where ctype 'j' is application/json and 'p' application/problem+json.
func (a Answer) Encode() []byte {
	var b bytes.Buffer
	b.Grow(4 + len(a.Location) + 1 + len(a.Body))
	fmt.Fprintf(&b, "%03d", a.Status)
	if a.Problem {
		b.WriteByte('p')
	} else {
		b.WriteByte('j')
	}
	b.WriteString(a.Location)
	b.WriteByte('\n')
	b.Write(a.Body)
	return b.Bytes()
}

// Decode reads an answer Encode wrote; ok is false for anything else.
func Decode(s string) (a Answer, ok bool) {
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
