package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/redistest"
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
			reads := redistest.Stat(t, f.RDB, "total_reads_processed")
			if got, valid, err := check(otptest.Wrong(code), ip); err != nil || valid || got.CheckAttempts != 2 {
				t.Fatalf("wrong code: %+v %v %v", got, valid, err)
			}
			if n := redistest.Stat(t, f.RDB, "total_reads_processed") - reads; n != tc.trips+1 { // +1: INFO
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

// With two rates to each limit, both ways refuse alike, by the same rate,
// with the same wait: a later write rate's refusal spends none of the
// earlier ones, and the IP's refusal still counts the write.
func TestCheckLimitsOfTwoRatesEach(t *testing.T) {
	type answer struct {
		reason otp.LimitReason
		wait   time.Duration
	}
	run := func(cluster bool) []answer {
		ctx := context.Background()
		f := &fixture{otptest.New(t, redisServer, app.Options{Policy: testPolicy, Limits: redisstore.LimitConfig{
			APIKeyWrites:   []redisstore.Rate{{Count: 3, Period: time.Minute}, {Count: 4, Period: time.Hour}},
			ClientIPChecks: []redisstore.Rate{{Count: 100, Period: time.Minute}, {Count: 1, Period: time.Hour}},
		}}, otptest.RecordOnly)}
		if cluster {
			redisstore.SplitChecks(f.Store)
		}
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		wrong := otptest.Wrong(f.Code(t, v))
		var got []answer
		for i, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3", "", "192.0.2.3", "192.0.2.4"} {
			if ip == "" { // past the minute, and window.lua's last buckets
				f.Clock.Advance(time.Minute + 2*time.Second)
				continue
			}
			_, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong, Origin: otp.Origin{APIKeyID: "k", ClientIP: ip}})
			var le *otp.LimitError
			switch {
			case errors.As(err, &le):
				got = append(got, answer{le.Reason, le.RetryAfter})
			case err != nil:
				t.Fatalf("check %d: %v", i+1, err)
			default:
				got = append(got, answer{})
			}
		}
		return got
	}
	one, apart := run(false), run(true)
	want := []otp.LimitReason{"", otp.LimitClientIP, "", otp.LimitAPIKeyWrites, "", otp.LimitAPIKeyWrites}
	for i := range want {
		if one[i].reason != want[i] || apart[i] != one[i] {
			t.Fatalf("check %d: one script %+v, steps apart %+v, want %q", i+1, one[i], apart[i], want[i])
		}
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

// replyError is an error reply of Redis's (a redis.Error).
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// crossSlot answers CROSSSLOT to a script whose keys span the number's
// and the limits' slots, as a proxy that shards by key would.
type crossSlot struct{ refused atomic.Int32 }

func (*crossSlot) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *crossSlot) refuse(cmd redis.Cmder) bool {
	a := cmd.Args()
	if (cmd.Name() != "evalsha" && cmd.Name() != "eval") || len(a) < 5 {
		return false
	}
	if n, _ := strconv.Atoi(fmt.Sprint(a[2])); n > 2 && len(a) > 2+n &&
		strings.HasPrefix(fmt.Sprint(a[3]), "otp:") && !strings.HasPrefix(fmt.Sprint(a[2+n]), "otp:") {
		cmd.SetErr(replyError("CROSSSLOT Keys in request don't hash to the same slot"))
		h.refused.Add(1)
		return true
	}
	return false
}

func (h *crossSlot) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.refuse(cmd) {
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

func (h *crossSlot) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.refuse(cmd) {
				return cmd.Err()
			}
		}
		return next(ctx, cmds)
	}
}

// Behind a proxy that refuses a script across slots, the first check's
// CROSSSLOT (refused whole: nothing ran) turns the store to the steps
// apart, that check included, for good.
func TestCrossSlotFallsBackToSteps(t *testing.T) {
	ctx := context.Background()
	f := &fixture{otptest.New(t, redisServer, app.Options{Policy: testPolicy, Limits: redisstore.LimitConfig{
		APIKeyWrites:   []redisstore.Rate{{Count: 5, Period: time.Minute}},
		ClientIPChecks: []redisstore.Rate{{Count: 1, Period: time.Hour}},
	}}, otptest.RecordOnly)}
	h := &crossSlot{}
	f.RDB.AddHook(h)
	o := otp.Origin{APIKeyID: "k", ClientIP: "192.0.2.9"}
	v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
	code := f.Code(t, v)
	if got, valid, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: otptest.Wrong(code), Origin: o}); err != nil || valid || got.CheckAttempts != 1 {
		t.Fatalf("first check: %+v %v %v", got, valid, err)
	}
	if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code, Origin: o}); otptest.LimitReason(err) != otp.LimitClientIP {
		t.Fatalf("second check: %v (the first took the budget of 1)", err)
	}
	if h.refused.Load() != 1 {
		t.Fatalf("%d scripts refused CROSSSLOT, want the first only", h.refused.Load())
	}
}
