package redisstore_test

import (
	"context"
	"testing"

	"github.com/otpd/otpd/internal/idempotency"
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
