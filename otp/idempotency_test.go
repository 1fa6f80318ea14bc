package otp_test

import (
	"context"
	"testing"

	"github.com/otpd/otpd/otp"
)

// A claim belongs to the run that made it: once it expired and a retry
// claimed the key, the first run can neither keep its answer over the
// retry's claim nor forget it.
func TestIdempotencyClaimsAreTheirRuns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fp := otp.RequestFingerprint("POST", "/v1/verifications", []byte(`{"to":"+14155552671"}`))
	first, state, _, err := f.store.ClaimIdempotency(ctx, "scope", "k", fp)
	if err != nil || state != otp.IdempotencyNew {
		t.Fatal(state, err)
	}
	if _, state, _, _ := f.store.ClaimIdempotency(ctx, "scope", "k", fp); state != otp.IdempotencyInProgress {
		t.Fatalf("a retry while the first runs: %v", state)
	}
	// The first run's claim expires; a retry takes the key.
	keys := f.rdb.Keys(ctx, "otp:idem:*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	f.rdb.Del(ctx, keys[0])
	retry, state, _, err := f.store.ClaimIdempotency(ctx, "scope", "k", fp)
	if err != nil || state != otp.IdempotencyNew {
		t.Fatal(state, err)
	}
	if kept, err := f.store.Keep(ctx, first, otp.Answer{Status: 202, Body: []byte(`{}`)}); err != nil || kept {
		t.Fatalf("the first run kept its answer over the retry's claim: %v %v", kept, err)
	}
	if err := f.store.Forget(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, state, _, _ := f.store.ClaimIdempotency(ctx, "scope", "k", fp); state != otp.IdempotencyInProgress {
		t.Fatalf("the first run's forget dropped the retry's claim: %v", state)
	}
	// The retry keeps its answer; it is replayed, to this scope only.
	want := otp.Answer{Status: 202, Location: "/v1/verifications/VE1", Body: []byte(`{"id":"VE1"}`)}
	if kept, err := f.store.Keep(ctx, retry, want); err != nil || !kept {
		t.Fatal(kept, err)
	}
	_, state, got, err := f.store.ClaimIdempotency(ctx, "scope", "k", fp)
	if err != nil || state != otp.IdempotencyDone || got.Status != 202 || got.Location != want.Location || string(got.Body) != string(want.Body) || got.Problem {
		t.Fatalf("replay: %v %+v %v", state, got, err)
	}
	if _, state, _, _ := f.store.ClaimIdempotency(ctx, "other-scope", "k", fp); state != otp.IdempotencyNew {
		t.Fatalf("another scope's key: %v", state)
	}
	other := otp.RequestFingerprint("POST", "/v1/verifications", []byte(`{"to":"+14155550123"}`))
	if _, state, _, _ := f.store.ClaimIdempotency(ctx, "scope", "k", other); state != otp.IdempotencyReused {
		t.Fatalf("the key with another request: %v", state)
	}
	// A value this code did not write is never replayed.
	f.rdb.Set(ctx, keys[0], "d"+string(fp[:])+"xx", 0)
	if _, state, _, _ := f.store.ClaimIdempotency(ctx, "scope", "k", fp); state != otp.IdempotencyReused {
		t.Fatalf("a corrupt value: %v", state)
	}
}
