package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// A claim belongs to the run that made it: once it expired and a retry
// claimed the key, the first run can neither keep its answer over the
// retry's claim nor forget it.
func TestIdempotencyClaimsAreTheirRuns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fp := idempotency.RequestFingerprint("POST", "/v1/verifications", []byte(`{"to":"+14155552671"}`))
	first, state, _, err := f.Idempotency.Claim(ctx, "scope", "k", fp)
	if err != nil || state != idempotency.New {
		t.Fatal(state, err)
	}
	if _, state, _, _ := f.Idempotency.Claim(ctx, "scope", "k", fp); state != idempotency.InProgress {
		t.Fatalf("a retry while the first runs: %v", state)
	}
	// The first run's claim expires; a retry takes the key.
	keys := f.RDB.Keys(ctx, "otp:idem:*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	f.RDB.Del(ctx, keys[0])
	retry, state, _, err := f.Idempotency.Claim(ctx, "scope", "k", fp)
	if err != nil || state != idempotency.New {
		t.Fatal(state, err)
	}
	if kept, err := f.Idempotency.Keep(ctx, first, idempotency.Answer{Status: 202, Body: []byte(`{}`)}); err != nil || kept {
		t.Fatalf("the first run kept its answer over the retry's claim: %v %v", kept, err)
	}
	if err := f.Idempotency.Forget(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, state, _, _ := f.Idempotency.Claim(ctx, "scope", "k", fp); state != idempotency.InProgress {
		t.Fatalf("the first run's forget dropped the retry's claim: %v", state)
	}
	// The retry keeps its answer; it is replayed, to this scope only.
	want := idempotency.Answer{Status: 202, Location: "/v1/verifications/VE1", Body: []byte(`{"id":"VE1"}`)}
	if kept, err := f.Idempotency.Keep(ctx, retry, want); err != nil || !kept {
		t.Fatal(kept, err)
	}
	_, state, got, err := f.Idempotency.Claim(ctx, "scope", "k", fp)
	if err != nil || state != idempotency.Done || got.Status != 202 || got.Location != want.Location || string(got.Body) != string(want.Body) || got.Problem {
		t.Fatalf("replay: %v %+v %v", state, got, err)
	}
	if _, state, _, _ := f.Idempotency.Claim(ctx, "other-scope", "k", fp); state != idempotency.New {
		t.Fatalf("another scope's key: %v", state)
	}
	other := idempotency.RequestFingerprint("POST", "/v1/verifications", []byte(`{"to":"+14155550123"}`))
	if _, state, _, _ := f.Idempotency.Claim(ctx, "scope", "k", other); state != idempotency.Reused {
		t.Fatalf("the key with another request: %v", state)
	}
	// A value this code did not write is never replayed.
	f.RDB.Set(ctx, keys[0], "d"+string(fp[:])+"xx", 0)
	if _, state, _, _ := f.Idempotency.Claim(ctx, "scope", "k", fp); state != idempotency.Reused {
		t.Fatalf("a corrupt value: %v", state)
	}
}

// claimAndKeep claims scope's key k and keeps an answer for it.
func claimAndKeep(t *testing.T, s *redisstore.Idempotency, scope, k string) error {
	t.Helper()
	ctx := context.Background()
	fp := idempotency.RequestFingerprint("POST", "/v1/verifications", []byte(k))
	c, state, _, err := s.Claim(ctx, scope, k, fp)
	if err != nil {
		return err
	}
	if state != idempotency.New {
		t.Fatalf("%s: %v", k, state)
	}
	if kept, err := s.Keep(ctx, c, idempotency.Answer{Status: 202, Body: []byte(`{"id":"` + k + `"}`)}); err != nil || !kept {
		t.Fatalf("%s: kept %v, %v", k, kept, err)
	}
	return nil
}

// answers counts the kept answers and claims in Redis (not the counts).
func answers(t *testing.T, rdb redis.UniversalClient) int {
	n := 0
	for _, k := range rdb.Keys(context.Background(), "otp:idem:*").Val() {
		if !strings.HasSuffix(k, ":kept") {
			n++
		}
	}
	return n
}

// An API key keeps at most its cap of answers at once: the next claim is
// refused before its request runs, with the wait until one ends; a kept
// answer is still replayed, another API key has its own cap, a request
// whose answer is not kept gives its place back, and the cap frees up as
// answers end.
func TestIdempotencyCap(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	clock := clocktest.Start()
	s := redisstore.NewIdempotency(rdb).WithCap(3).WithClock(clock.Now)
	for i := range 3 {
		clock.Advance(time.Minute)
		if err := claimAndKeep(t, s, "scope", fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
	}
	fp := idempotency.RequestFingerprint("POST", "/v1/verifications", []byte("k3"))
	_, _, _, err := s.Claim(ctx, "scope", "k3", fp)
	if r, wait := reason(err); r != otp.LimitIdempotencyKeys || wait <= 0 || wait > idempotency.TTL+time.Hour {
		t.Fatalf("a 4th answer: %v (%q, %v)", err, r, wait)
	}
	if n := answers(t, rdb); n != 3 {
		t.Fatalf("%d answers and claims, want the cap's 3", n)
	}
	k0 := idempotency.RequestFingerprint("POST", "/v1/verifications", []byte("k0"))
	if _, state, a, err := s.Claim(ctx, "scope", "k0", k0); err != nil || state != idempotency.Done || string(a.Body) != `{"id":"k0"}` {
		t.Fatalf("a kept answer at the cap: %v %+v %v", state, a, err)
	}
	if err := claimAndKeep(t, s, "other-scope", "k3"); err != nil {
		t.Fatalf("another API key: %v", err)
	}
	// The answers end 24 hours on; the cap counts them a little longer at
	// most (its window's buckets), never less.
	clock.Advance(idempotency.TTL + time.Hour)
	for i := 3; i < 6; i++ {
		if err := claimAndKeep(t, s, "scope", fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("answer %d a day on: %v", i+1, err)
		}
	}
	if _, _, _, err := s.Claim(ctx, "scope", "k6", fp); !errors.As(err, new(*otp.LimitError)) {
		t.Fatalf("over the cap again: %v", err)
	}
}

// A request whose answer is not kept (forgotten, or its claim expired
// before Keep) gives its place under the cap back.
func TestIdempotencyCapGivesBack(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	s := redisstore.NewIdempotency(rdb).WithCap(1).WithClock(clocktest.Start().Now)
	fp := idempotency.RequestFingerprint("POST", "/v1/verifications/VE1/cancel", nil)
	for i := range 5 { // forgotten: a refusal, a cancel that changed nothing
		c, state, _, err := s.Claim(ctx, "scope", fmt.Sprintf("f%d", i), fp)
		if err != nil || state != idempotency.New {
			t.Fatalf("claim %d: %v %v", i, state, err)
		}
		if err := s.Forget(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c, _, _, err := s.Claim(ctx, "scope", "expired", fp)
	if err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, c.Key) // the claim expired: the request outlived it
	if kept, err := s.Keep(ctx, c, idempotency.Answer{Status: 200, Body: []byte(`{}`)}); err != nil || kept {
		t.Fatalf("kept %v, %v", kept, err)
	}
	if err := claimAndKeep(t, s, "scope", "last"); err != nil {
		t.Fatalf("the one answer the cap allows: %v", err)
	}
	if _, _, _, err := s.Claim(ctx, "scope", "one-more", fp); !errors.As(err, new(*otp.LimitError)) {
		t.Fatalf("over the cap of 1: %v", err)
	}
	// A keep sent again (its reply lost) is kept, and counts once.
	c, _, _, err = s.Claim(ctx, "scope2", "k", fp)
	if err != nil {
		t.Fatal(err)
	}
	a := idempotency.Answer{Status: 200, Body: []byte(`{}`)}
	for range 2 {
		if kept, err := s.Keep(ctx, c, a); err != nil || !kept {
			t.Fatalf("kept %v, %v", kept, err)
		}
	}
	if _, _, _, err := s.Claim(ctx, "scope2", "k2", fp); !errors.As(err, new(*otp.LimitError)) {
		t.Fatalf("scope2 over its cap of 1: %v", err)
	}
}

// With parts (QUEUE_SHARDS), an API key's answers spread over the parts'
// hash tags, each answer in the slot of its count, each part capped at
// its share.
func TestIdempotencyCapInParts(t *testing.T) {
	rdb := client(t)
	tags := []string{"otp-0", "otp-7", "otp-9"}
	s := redisstore.NewIdempotency(rdb).WithCap(30).WithParts(tags).WithClock(clocktest.Start().Now) // 10 a part
	kept := 0
	for i := range 200 {
		if claimAndKeep(t, s, "scope", fmt.Sprintf("k%d", i)) == nil {
			kept++
		}
	}
	if kept != 30 || answers(t, rdb) != 30 {
		t.Fatalf("%d kept, %d in Redis; want the 30 of three full parts", kept, answers(t, rdb))
	}
	for _, k := range rdb.Keys(context.Background(), "otp:idem:*").Val() {
		if !strings.HasPrefix(k, "otp:idem:{otp-0}:scope:") && !strings.HasPrefix(k, "otp:idem:{otp-7}:scope:") &&
			!strings.HasPrefix(k, "otp:idem:{otp-9}:scope:") {
			t.Errorf("key %s is in no part", k)
		}
	}
}
