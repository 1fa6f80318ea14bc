package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
)

// Without an injected clock every script judges time by the Redis server's
// TIME: creation, expiry and the claim's time left come from Redis, so no
// api or worker host can keep a code alive by running behind.
func TestScriptsUseRedisTime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p := testPolicy
	p.TTL = 1500 * time.Millisecond
	parts, err := app.Build(f.RDB, app.Options{Policy: p, Secret: []byte(otptest.Secret), CodeLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Asynq.Close()
	store, svc := parts.Store, parts.Service

	before, err := f.RDB.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := svc.Start(ctx, otp.StartRequest{To: "+14155552671"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := f.RDB.Time(ctx).Result()
	if v.CreatedAt.Before(before.Truncate(time.Millisecond)) || v.CreatedAt.After(after) || v.ExpiresAt.Sub(v.CreatedAt) != p.TTL {
		t.Fatalf("created %v, expires %v; Redis said %v..%v", v.CreatedAt, v.ExpiresAt, before, after)
	}
	c, err := store.Claim(ctx, v.ID, 1, time.Minute, time.Time{})
	if err != nil || c.Outcome != otp.ClaimSend {
		t.Fatalf("claim %+v %v", c, err)
	}
	if c.Remaining <= 0 || c.Remaining > p.TTL || c.QueuedFor < 0 || c.QueuedFor > time.Second {
		t.Fatalf("remaining %v, queued for %v", c.Remaining, c.QueuedFor)
	}

	// Past Redis's expiry the code is dead for every reader.
	time.Sleep(c.Remaining + 50*time.Millisecond)
	if got, err := svc.Get(ctx, v.ID); err != nil || got.Status != otp.StatusExpired {
		t.Fatalf("get after expiry: %v %v", got.Status, err)
	}
	if _, _, err := svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: "000000"}); otptest.Finished(err) != otp.StatusExpired {
		t.Fatalf("check after expiry: %v", err)
	}
}
