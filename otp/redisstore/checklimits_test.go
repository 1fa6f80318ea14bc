package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// A check takes its origin's limits with it, in one script on a single
// Redis and in three steps on a Cluster, alike: the API key's write limit
// whatever the answer (a refusal by the IP's budget too), the IP's
// failed-check budget except for a right code, and no attempt when a
// limit refuses.
func TestCheckTakesItsLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster bool
		trips   int // round trips of a check that passes its limits
	}{
		{"one script", false, 1},
		{"cluster steps", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := &fixture{otptest.New(t, redisServer, app.Options{Policy: testPolicy, Limits: redisstore.LimitConfig{
				APIKeyWrites:   []redisstore.Rate{{Count: 5, Period: time.Minute}},
				ClientIPChecks: []redisstore.Rate{{Count: 2, Period: time.Hour}},
			}}, otptest.RecordOnly)}
			if tc.cluster {
				redisstore.SplitChecks(f.Store)
			}
			ip := otp.Origin{APIKeyID: "k", ClientIP: "203.0.113.7"}
			v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
			if err != nil {
				t.Fatal(err)
			}
			code := f.Code(t, v)
			check := func(c string, o otp.Origin) (otp.Verification, bool, error) {
				return f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: c, Origin: o})
			}
			// Redis learns the scripts (their first run is NOSCRIPT, then
			// EVAL) with a wrong code from another key.
			if _, _, err := check(otptest.Wrong(code), otp.Origin{APIKeyID: "warm"}); err != nil {
				t.Fatal(err)
			}
			// A wrong code costs the IP one of its two.
			reads := statOf(t, f.RDB, "total_reads_processed")
			if got, valid, err := check(otptest.Wrong(code), ip); err != nil || valid || got.CheckAttempts != 2 {
				t.Fatalf("wrong code: %+v %v %v", got, valid, err)
			}
			if n := statOf(t, f.RDB, "total_reads_processed") - reads; n != tc.trips+1 { // +1: INFO
				t.Fatalf("a check took %d round trips, want %d", n-1, tc.trips)
			}
			// The right one is free: the IP keeps its last one.
			if _, valid, err := check(code, ip); err != nil || !valid {
				t.Fatalf("right code: %v %v", valid, err)
			}
			if _, _, err := check(code, ip); otptest.Finished(err) != otp.StatusApproved {
				t.Fatalf("its last one: %v", err)
			}
			// Now none is left: refused, and nothing is compared.
			v2, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550100"})
			if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v2.ID, Code: f.Code(t, v2), Origin: ip}); otptest.LimitReason(err) != otp.LimitClientIP {
				t.Fatalf("over the IP's budget: %v", err)
			}
			if got, _ := f.Svc.Get(ctx, v2.ID); got.CheckAttempts != 0 || got.Status != otp.StatusPending {
				t.Fatalf("a refused check was compared: %+v", got)
			}
			// The key has written 4 of 5 (the budget's refusal counted): one more,
			// then the write limit refuses before the IP's budget is asked.
			other := otp.Origin{APIKeyID: "k", ClientIP: "203.0.113.8"}
			if _, valid, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v2.ID, Code: f.Code(t, v2), Origin: other}); err != nil || !valid {
				t.Fatalf("fifth write: %v %v", valid, err)
			}
			if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v2.ID, Code: "000000", Origin: other}); otptest.LimitReason(err) != otp.LimitAPIKeyWrites {
				t.Fatalf("sixth write: %v", err)
			}
			// The write refusal took nothing from the other IP's budget: two
			// wrong codes of another key still pass it.
			third := otp.Origin{APIKeyID: "k2", ClientIP: "203.0.113.8"}
			v3, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550101"})
			for i := range 2 {
				if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v3.ID, Code: otptest.Wrong(f.Code(t, v3)), Origin: third}); err != nil {
					t.Fatalf("wrong code %d of the other IP: %v", i+1, err)
				}
			}
			if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v3.ID, Code: f.Code(t, v3), Origin: third}); otptest.LimitReason(err) != otp.LimitClientIP {
				t.Fatalf("the other IP's third: %v", err)
			}
		})
	}
}

// Parallel wrong codes spend the IP's budget exactly, never past it.
func TestParallelChecksKeepToTheBudget(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		ctx := context.Background()
		f := &fixture{otptest.New(t, redisServer, app.Options{Policy: testPolicy, Limits: redisstore.LimitConfig{
			ClientIPChecks: []redisstore.Rate{{Count: 5, Period: time.Hour}},
		}}, otptest.RecordOnly)}
		if cluster {
			redisstore.SplitChecks(f.Store)
		}
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		wrong := otptest.Wrong(f.Code(t, v))
		var refused atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				_, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong, Origin: otp.Origin{ClientIP: "198.51.100.4"}})
				if otptest.LimitReason(err) == otp.LimitClientIP {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		if refused.Load() != 15 {
			t.Fatalf("cluster %v: %d of 20 refused by a budget of 5, want 15", cluster, refused.Load())
		}
	}
}

// statOf reads a counter of INFO stats.
func statOf(t *testing.T, c redis.UniversalClient, field string) int {
	t.Helper()
	for _, l := range strings.Split(c.Info(context.Background(), "stats").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no %s in INFO stats", field)
	return 0
}
