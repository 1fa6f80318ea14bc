package redisstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// client is a fresh connection to a flushed Redis.
func client(t *testing.T) *redis.Client {
	c := redisServer.Client()
	t.Cleanup(func() { c.Close() })
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func allow(ctx context.Context, g *redisstore.Limits, s otp.SendScope) error {
	_, err := g.TakeSend(ctx, s)
	return err
}

func take(ctx context.Context, g *redisstore.Limits, o otp.Origin) error {
	_, err := g.TakeCheck(ctx, o)
	return err
}

func reason(err error) (otp.LimitReason, time.Duration) {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.Reason, le.RetryAfter
	}
	return "", 0
}

var scope = otp.SendScope{
	Origin: otp.Origin{ClientIP: "203.0.113.7", APIKeyID: "k1"},
	Region: "US", CallingCode: 1, Prefix: "+14155552",
}

// Every send limit at N and N+1: N sends pass, the next is refused with
// the limit's name and a wait after which one fits again, and a scope the
// limit does not cover is not refused. Two Guards on two clients stand for
// two API processes sharing Redis.
func TestEachSendLimitAtNAndNPlusOne(t *testing.T) {
	const n = 5
	five := redisstore.Rate{Count: n, Period: time.Minute}
	for _, tc := range []struct {
		name  string
		cfg   redisstore.LimitConfig
		other func(otp.SendScope) otp.SendScope // a scope the limit does not share
		want  otp.LimitReason
	}{
		{"client ip", redisstore.LimitConfig{ClientIPSends: []redisstore.Rate{five}},
			func(s otp.SendScope) otp.SendScope { s.ClientIP = "198.51.100.1"; return s }, otp.LimitClientIP},
		{"client ip, second window", redisstore.LimitConfig{ClientIPSends: []redisstore.Rate{{Count: 50, Period: time.Minute}, {Count: n, Period: time.Hour}}},
			func(s otp.SendScope) otp.SendScope { s.ClientIP = "198.51.100.1"; return s }, otp.LimitClientIP},
		{"api key", redisstore.LimitConfig{APIKeySends: []redisstore.Rate{five}},
			func(s otp.SendScope) otp.SendScope { s.APIKeyID = "k2"; return s }, otp.LimitAPIKey},
		{"api key per second", redisstore.LimitConfig{APIKeySends: []redisstore.Rate{{Count: n, Period: time.Second}}},
			func(s otp.SendScope) otp.SendScope { s.APIKeyID = "k2"; return s }, otp.LimitAPIKey},
		{"prefix", redisstore.LimitConfig{PrefixSends: []redisstore.Rate{{Count: n, Period: 10 * time.Minute}}},
			func(s otp.SendScope) otp.SendScope { s.Prefix = "+14155553"; return s }, otp.LimitPrefix},
		{"country", redisstore.LimitConfig{CountryBudgets: map[string]int{"US": n, "*": 100}},
			func(s otp.SendScope) otp.SendScope { s.Region = "GB"; return s }, otp.LimitCountry},
		{"country default", redisstore.LimitConfig{CountryBudgets: map[string]int{"*": n, "GB": 100}},
			func(s otp.SendScope) otp.SendScope { s.Region = "GB"; return s }, otp.LimitCountry},
		{"global", redisstore.LimitConfig{BudgetPerMinute: n}, nil, otp.LimitGlobal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := clocktest.Start()
			a := redisstore.NewLimits(client(t), tc.cfg).WithClock(clock.Now)
			b := redisstore.NewLimits(client(t), tc.cfg).WithClock(clock.Now)
			for i := 0; i < n; i++ {
				clock.Advance(100 * time.Millisecond)
				if err := allow(ctx, []*redisstore.Limits{a, b}[i%2], scope); err != nil {
					t.Fatalf("send %d of %d: %v", i+1, n, err)
				}
			}
			got, wait := reason(allow(ctx, a, scope))
			if got != tc.want || wait <= 0 {
				t.Fatalf("send %d: %v, %v", n+1, got, wait)
			}
			if tc.other != nil {
				if err := allow(ctx, b, tc.other(scope)); err != nil {
					t.Fatalf("a scope outside the limit was refused: %v", err)
				}
			}
			clock.Advance(wait - time.Millisecond)
			if got, _ := reason(allow(ctx, b, scope)); got != tc.want {
				t.Fatalf("1 ms before Retry-After: %v", got)
			}
			clock.Advance(time.Millisecond)
			if err := allow(ctx, b, scope); err != nil {
				t.Fatalf("after Retry-After %v: %v", wait, err)
			}
		})
	}
}

// "N per period" is at most N in any period, whatever the arrival pattern:
// GCRA with a burst of N let about 2N through in the first period. The
// window may refuse a little longer than an exact log would, never less:
// at most two buckets (1/30 of the period).
func TestAtMostNInAnyPeriod(t *testing.T) {
	for _, r := range []redisstore.Rate{
		{Count: 5, Period: time.Minute}, {Count: 20, Period: time.Second}, {Count: 300, Period: time.Minute},
		{Count: 30, Period: time.Hour}, {Count: 1, Period: 10 * time.Second},
	} {
		t.Run(r.Period.String(), func(t *testing.T) {
			ctx := context.Background()
			clock := clocktest.Start()
			g := redisstore.NewLimits(client(t), redisstore.LimitConfig{APIKeySends: []redisstore.Rate{r}}).WithClock(clock.Now)
			rng := rand.New(rand.NewPCG(uint64(r.Count), uint64(r.Period)))
			// window.lua counts 61 buckets of ceil(period/60) whole ms: an
			// event is forgotten at most 61w - period after the period, 37
			// ms for a second (17 ms buckets). A slack of two buckets (34
			// ms) failed whenever the clock's start aligned badly.
			w := (r.Period.Milliseconds() + 59) / 60
			slack := time.Duration(61*w-r.Period.Milliseconds()) * time.Millisecond
			var allowed []time.Time
			end := clock.Now().Add(5 * r.Period)
			for clock.Now().Before(end) {
				// Bursts and lulls: most gaps tiny, some a large part of the period.
				gap := time.Duration(rng.ExpFloat64() * float64(r.Period) / float64(4*r.Count))
				if rng.IntN(4*r.Count) == 0 {
					gap = time.Duration(rng.Int64N(int64(r.Period)))
				}
				clock.Advance(max(gap, time.Millisecond))
				now := clock.Now()
				err := allow(ctx, g, scope)
				inWindow := countSince(allowed, now.Add(-r.Period))
				switch {
				case err == nil:
					if inWindow+1 > r.Count {
						t.Fatalf("at %v: %d in the last %v, limit %d", now.Sub(end.Add(-5*r.Period)), inWindow+1, r.Period, r.Count)
					}
					allowed = append(allowed, now)
				case countSince(allowed, now.Add(-r.Period-slack)) < r.Count:
					t.Fatalf("refused with only %d in the last %v + %v: %v", inWindow, r.Period, slack, err)
				}
			}
			if len(allowed) < 2*r.Count {
				t.Fatalf("only %d allowed over 5 periods of %d", len(allowed), r.Count)
			}
		})
	}
}

func countSince(times []time.Time, since time.Time) int {
	i := sort.Search(len(times), func(i int) bool { return times[i].After(since) })
	return len(times) - i
}

// The example: under 5/1m from one IP the 6th send is refused,
// even spread over the minute, and so is every send until the first of
// the five is a minute old.
func TestSixthSendInAMinuteIsRefused(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{ClientIPSends: []redisstore.Rate{{Count: 5, Period: time.Minute}}}).WithClock(clock.Now)
	for i := 0; i < 5; i++ {
		if err := allow(ctx, g, scope); err != nil {
			t.Fatal(err)
		}
		clock.Advance(11 * time.Second)
	}
	// 55s after the first: GCRA had refilled four by now.
	for i := 0; i < 4; i++ {
		if r, _ := reason(allow(ctx, g, scope)); r != otp.LimitClientIP {
			t.Fatalf("send %d within the minute was let through", 6+i)
		}
		clock.Advance(time.Second)
	}
	clock.Advance(4 * time.Second) // 63s after the first
	if err := allow(ctx, g, scope); err != nil {
		t.Fatalf("the first send is a minute old: %v", err)
	}
}

func TestZeroCountryBudgetBlocks(t *testing.T) {
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{CountryBudgets: map[string]int{"US": 0}})
	if r, _ := reason(allow(context.Background(), g, scope)); r != otp.LimitCountry {
		t.Fatal("a zero budget let a send through")
	}
}

// A refused request spends nothing: an IP refused by its own limit leaves
// the shared budgets alone, and a budget that refuses leaves the IP's.
func TestRefusalSpendsNothing(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{
		ClientIPSends:   []redisstore.Rate{{Count: 1, Period: time.Hour}},
		BudgetPerMinute: 3,
	}).WithClock(clock.Now)
	if err := allow(ctx, g, scope); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // an abusive IP hammering
		if r, _ := reason(allow(ctx, g, scope)); r != otp.LimitClientIP {
			t.Fatalf("try %d: %v", i, r)
		}
	}
	other := scope
	for i, ip := range []string{"198.51.100.1", "198.51.100.2"} { // the global budget still has 2 of 3
		other.ClientIP = ip
		if err := allow(ctx, g, other); err != nil {
			t.Fatalf("other user %d: %v", i, err)
		}
	}
	other.ClientIP = "198.51.100.3"
	if r, _ := reason(allow(ctx, g, other)); r != otp.LimitGlobal {
		t.Fatalf("fourth send in the minute: %v", r)
	}
	clock.Advance(time.Minute + 2*time.Second)
	if err := allow(ctx, g, other); err != nil {
		t.Fatalf("the IP refused by the budget kept its own send: %v", err)
	}
}

// A refunded send no longer counts, on every limit it took from.
func TestRefundSend(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{
		ClientIPSends: []redisstore.Rate{{Count: 2, Period: time.Hour}}, BudgetPerMinute: 2,
	}).WithClock(clock.Now)
	for i := 0; i < 10; i++ {
		grant, err := g.TakeSend(ctx, scope)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		clock.Advance(3 * time.Second) // across buckets
		if err := grant.Refund(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := allow(ctx, g, scope); err != nil {
			t.Fatalf("after refunds, send %d: %v", i, err)
		}
	}
	if r, _ := reason(allow(ctx, g, scope)); r != otp.LimitClientIP {
		t.Fatalf("third: %v", r)
	}
	// A refund with nothing taken gives nothing.
	grant, err := redisstore.NewLimits(client(t), redisstore.LimitConfig{}).TakeSend(ctx, scope)
	if err != nil || grant.Refund(ctx) != nil {
		t.Fatal(err)
	}
}

// A refund takes the event out of the bucket it went into, not the newest
// one: otherwise, with another send in between, the one left would look
// older than it is and leave the window early.
func TestRefundHitsItsOwnBucket(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{APIKeySends: []redisstore.Rate{{Count: 2, Period: time.Minute}}}).WithClock(clock.Now)
	grant, err := g.TakeSend(ctx, scope) // t=0: refunded later
	refund := grant.Refund
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if err := allow(ctx, g, scope); err != nil { // t=10s: stays
		t.Fatal(err)
	}
	if err := refund(ctx); err != nil {
		t.Fatal(err)
	}
	if err := allow(ctx, g, scope); err != nil { // t=10s: room for one
		t.Fatal(err)
	}
	// The t=0 bucket held nothing; the t=10s one holds two. At t=62s a
	// newest-bucket refund would have left one event at t=0, gone by now,
	// and let a third in while two of the last minute remain.
	clock.Advance(52 * time.Second)
	if r, _ := reason(allow(ctx, g, scope)); r != otp.LimitAPIKey {
		t.Fatalf("a third send within a minute of two: %v", r)
	}
	// A refund after its bucket left the window gives nothing back.
	clock.Advance(20 * time.Second)
	grant, err = g.TakeSend(ctx, scope)
	refund = grant.Refund
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if err := refund(ctx); err != nil {
		t.Fatal(err)
	}
	if err := allow(ctx, g, scope); err != nil {
		t.Fatal(err)
	}
}

// The wrong-code budget per IP is taken before the check: 30 parallel
// checks under 3/1h get at most 3 through.
func TestTakeCheckInParallel(t *testing.T) {
	ctx := context.Background()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 3, Period: time.Hour}}})
	o := otp.Origin{ClientIP: "203.0.113.9"}
	var mu sync.Mutex
	var ok, refused int
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := take(ctx, g, o)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if r, wait := reason(err); r == otp.LimitClientIP && wait > 0 {
				refused++
			} else {
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || refused != 27 {
		t.Fatalf("%d taken, %d refused", ok, refused)
	}
}

// Checks: N taken, N+1 refused; a refund (right code) gives one back;
// another IP, or none, is not limited.
func TestClientIPChecks(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{
		{Count: 20, Period: time.Minute}, {Count: 3, Period: time.Hour}}}).WithClock(clock.Now)
	o := otp.Origin{ClientIP: "203.0.113.9"}
	for i := 0; i < 3; i++ {
		if err := take(ctx, g, o); err != nil {
			t.Fatal(err)
		}
	}
	r, wait := reason(take(ctx, g, o))
	if r != otp.LimitClientIP || wait < 59*time.Minute || wait > 63*time.Minute {
		t.Fatalf("fourth: %v %v", r, wait)
	}
	if r, _ := reason(take(ctx, g, o)); r != otp.LimitClientIP {
		t.Fatal("a refused take spent nothing, and still has nothing")
	}
	clock.Advance(time.Hour + 2*time.Minute)
	refund, err := g.TakeCheck(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := refund(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := take(ctx, g, o); err != nil {
			t.Fatalf("after a refund, take %d: %v", i, err)
		}
	}
	for _, other := range []otp.Origin{{ClientIP: "198.51.100.1"}, {}} {
		if err := take(ctx, g, other); err != nil {
			t.Fatalf("%+v: %v", other, err)
		}
	}
}

// Without WithClock the limits run on the Redis server's clock, so every
// api replica judges a window alike whatever its own clock says.
func TestRedisClock(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	g := redisstore.NewLimits(c, redisstore.LimitConfig{APIKeySends: []redisstore.Rate{{Count: 2, Period: time.Second}}})
	for i := 0; i < 2; i++ {
		if err := allow(ctx, g, scope); err != nil {
			t.Fatal(err)
		}
	}
	r, wait := reason(allow(ctx, g, scope))
	if r != otp.LimitAPIKey || wait <= 0 || wait > 1100*time.Millisecond {
		t.Fatalf("third: %v %v", r, wait)
	}
	// A guard whose host clock is an hour behind reads the same window.
	lagging := redisstore.NewLimits(c, redisstore.LimitConfig{APIKeySends: []redisstore.Rate{{Count: 2, Period: time.Second}}})
	if r, _ := reason(allow(ctx, lagging, scope)); r != otp.LimitAPIKey {
		t.Fatalf("another replica: %v", r)
	}
	time.Sleep(wait)
	if err := allow(ctx, g, scope); err != nil {
		t.Fatalf("after %v: %v", wait, err)
	}
}

func TestNoIPNoKeyNoLimit(t *testing.T) {
	ctx := context.Background()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{
		ClientIPSends: []redisstore.Rate{{Count: 1, Period: time.Hour}},
		APIKeySends:   []redisstore.Rate{{Count: 1, Period: time.Hour}},
	})
	for i := 0; i < 5; i++ {
		if err := allow(ctx, g, otp.SendScope{Region: "US", Prefix: "+1415555"}); err != nil {
			t.Fatal(err)
		}
	}
}

// State stays small: one hash per limit key with at most 63 fields, gone
// when its window is over.
func TestStateIsBounded(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	clock := clocktest.Start()
	g := redisstore.NewLimits(c, redisstore.LimitConfig{BudgetPerMinute: 1_000_000}).WithClock(clock.Now)
	for i := 0; i < 5000; i++ {
		if err := allow(ctx, g, scope); err != nil {
			t.Fatal(err)
		}
		clock.Advance(37 * time.Millisecond)
	}
	keys, _ := c.Keys(ctx, "*").Result()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	if n, _ := c.HLen(ctx, keys[0]).Result(); n > 63 {
		t.Fatalf("%d fields", n)
	}
	if ttl, _ := c.PTTL(ctx, keys[0]).Result(); ttl <= 0 || ttl > 62*time.Second {
		t.Fatalf("ttl %v", ttl)
	}
}

// "*" is one budget for every country not named, together: a wave spread
// over 245 regions meets one cap, not 245.
func TestStarBudgetIsShared(t *testing.T) {
	ctx := context.Background()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{CountryBudgets: map[string]int{"US": 5, "*": 2}})
	s := scope
	for i, region := range []string{"DE", "FR"} {
		s.Region = region
		if err := allow(ctx, g, s); err != nil {
			t.Fatalf("send %d (%s): %v", i, region, err)
		}
	}
	for _, region := range []string{"GB", "DE", "BR", "CN"} {
		s.Region = region
		if r, _ := reason(allow(ctx, g, s)); r != otp.LimitCountry {
			t.Fatalf("%s: the rest of the world's budget of 2 let a third through", region)
		}
	}
	s.Region = "US"
	if err := allow(ctx, g, s); err != nil {
		t.Fatalf("a named country has its own budget: %v", err)
	}
}

// Calls have a budget of their own on top of the shared ones; other
// channels do not touch it.
func TestCallBudget(t *testing.T) {
	ctx := context.Background()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{CallBudgetPerMinute: 2, BudgetPerMinute: 10})
	call := scope
	call.Channel = otp.ChannelCall
	for i := 0; i < 2; i++ {
		if err := allow(ctx, g, call); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if r, _ := reason(allow(ctx, g, call)); r != otp.LimitCallBudget {
		t.Fatalf("third call: %v", r)
	}
	for _, ch := range []string{otp.ChannelSMS, otp.ChannelWhatsApp, ""} {
		s := scope
		s.Channel = ch
		if err := allow(ctx, g, s); err != nil {
			t.Fatalf("%q after the call budget: %v", ch, err)
		}
	}
	// The calls spent the shared budget too: 2 calls + 3 others of 10.
	for i := 0; i < 5; i++ {
		allow(ctx, g, scope)
	}
	if r, _ := reason(allow(ctx, g, scope)); r != otp.LimitGlobal {
		t.Fatalf("the global budget did not count the calls: %v", r)
	}
}

// The write limit (API_KEY_WRITE_LIMITS) at N and N+1, per API key; a
// refusal says when one fits again, and nothing gives a write back.
func TestWriteLimit(t *testing.T) {
	ctx := context.Background()
	const n = 5
	clock := clocktest.Start()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{
		APIKeyWrites: []redisstore.Rate{{Count: 50, Period: time.Second}, {Count: n, Period: time.Minute}},
	}).WithClock(clock.Now)
	for i := range n {
		clock.Advance(100 * time.Millisecond)
		if err := g.TakeWrite(ctx, "k1"); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	r, wait := reason(g.TakeWrite(ctx, "k1"))
	if r != otp.LimitAPIKeyWrites || wait <= 0 || wait > time.Minute+2*time.Second { // up to two buckets more
		t.Fatalf("write %d: %q %v", n+1, r, wait)
	}
	if err := g.TakeWrite(ctx, "k2"); err != nil {
		t.Fatalf("another key: %v", err)
	}
	clock.Advance(wait)
	if err := g.TakeWrite(ctx, "k1"); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	// Off: no limit, no key.
	rdb := client(t)
	off := redisstore.NewLimits(rdb, redisstore.LimitConfig{})
	for range 100 {
		if err := off.TakeWrite(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if keys := rdb.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Fatalf("keys %v", keys)
	}
}

// With parts, a write counts in a random part, each allowing its share:
// one key's writes spread over the parts' slots, and together never pass
// the limit rounded up to a multiple of the parts.
func TestWriteLimitInParts(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	tags := []string{"otp-0", "otp-7", "otp-9"}
	g := redisstore.NewLimits(rdb, redisstore.LimitConfig{
		APIKeyWrites: []redisstore.Rate{{Count: 30, Period: time.Minute}}, // 10 per part
	}).WithClock(clocktest.Start().Now).WithParts(tags, func(string) int { return 0 })
	passed := 0
	for range 200 {
		if g.TakeWrite(ctx, "k1") == nil {
			passed++
		}
	}
	if passed != 30 {
		t.Fatalf("%d writes passed, want the 30 of three full parts", passed)
	}
	keys := rdb.Keys(ctx, "lim:*").Val()
	sort.Strings(keys)
	if len(keys) != 3 || !strings.HasPrefix(keys[0], "lim:{otp-0}:write:k1:") ||
		!strings.HasPrefix(keys[1], "lim:{otp-7}:write:k1:") || !strings.HasPrefix(keys[2], "lim:{otp-9}:write:k1:") {
		t.Fatalf("keys %v: not one per part", keys)
	}
}

// A check takes its API key's write limit with the IP's failed checks'
// budget, in one round trip: a write refusal is answered first and gives
// the budget back; an IP refusal still spends the write (a request counts).
func TestTakeCheckTakesTheWriteLimit(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.Start()
	rdb := client(t)
	g := redisstore.NewLimits(rdb, redisstore.LimitConfig{
		APIKeyWrites:   []redisstore.Rate{{Count: 3, Period: time.Minute}},
		ClientIPChecks: []redisstore.Rate{{Count: 2, Period: time.Hour}},
	}).WithClock(clock.Now)
	o := otp.Origin{ClientIP: "203.0.113.9", APIKeyID: "k1"}
	for i := range 2 {
		if err := take(ctx, g, o); err != nil {
			t.Fatalf("check %d: %v", i+1, err)
		}
	}
	if r, _ := reason(take(ctx, g, o)); r != otp.LimitClientIP {
		t.Fatalf("third check: %q, want the IP's budget", r)
	}
	// The three writes are spent: the fourth is refused by the write limit,
	// and another IP's budget is left whole.
	other := otp.Origin{ClientIP: "203.0.113.10", APIKeyID: "k1"}
	if r, _ := reason(take(ctx, g, other)); r != otp.LimitAPIKeyWrites {
		t.Fatalf("fourth check: %q, want the write limit", r)
	}
	if err := take(ctx, g, otp.Origin{ClientIP: "203.0.113.10", APIKeyID: "k2"}); err != nil {
		t.Fatalf("another key: %v", err)
	}
	if err := take(ctx, g, otp.Origin{ClientIP: "203.0.113.10", APIKeyID: "k3"}); err != nil {
		t.Fatalf("the other IP's second check: %v", err)
	}
	if r, _ := reason(take(ctx, g, otp.Origin{ClientIP: "203.0.113.10", APIKeyID: "k4"})); r != otp.LimitClientIP {
		t.Fatalf("the other IP's third check: %q (the write refusal gave its budget back, so only two were spent)", r)
	}
	// No IP: the write limit alone.
	if r, _ := reason(take(ctx, g, otp.Origin{APIKeyID: "k1"})); r != otp.LimitAPIKeyWrites {
		t.Fatalf("no IP: %q", r)
	}
}
