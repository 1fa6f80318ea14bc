package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// guardConfig is FRAUD_*'s defaults.
var guardConfig = redisstore.GuardConfig{
	Window: time.Hour, Grace: 2 * time.Minute, MinSends: 20, CountryMinSends: 200,
	MinConversion: 0.2, BlockTTL: 12 * time.Hour,
}

// guardFix is the service with the fraud guard on, its events recorded.
type guardFix struct {
	*otptest.Fixture
	cfg    redisstore.GuardConfig
	events *otptest.Events
}

func newGuardFix(t testing.TB, cfg redisstore.GuardConfig, mod func(*otp.Policy)) *guardFix {
	t.Helper()
	p := testPolicy
	p.Fraud = otp.FraudOn
	if cfg.Shadow {
		p.Fraud = otp.FraudShadow
	}
	if mod != nil {
		mod(&p)
	}
	f := &guardFix{Fixture: otptest.New(t, redisServer, app.Options{Policy: p, Guard: &cfg}, otptest.RecordOnly),
		cfg: cfg, events: &otptest.Events{}}
	f.Svc = f.With(p, func(d *otp.Deps) { d.Events = f.events })
	return f
}

// rangeA is a range of PREFIX_DIGITS=3; in(rangeA, i) its i-th number.
const (
	rangeA = "+14155552"
	rangeB = "+14155553"
)

func in(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }

// settle moves the clock until what was sent so far is judged: past the
// grace and the end of its bucket.
func (f *guardFix) settle() {
	f.Clock.Advance(f.cfg.Grace + f.cfg.Window/60 + time.Second)
}

func (f *guardFix) start(t testing.TB, to string) (otp.Verification, error) {
	t.Helper()
	v, _, err := f.Svc.Start(context.Background(), otp.StartRequest{To: to})
	return v, err
}

// startAll starts a verification for each number, all admitted.
func (f *guardFix) startAll(t testing.TB, numbers ...string) []otp.Verification {
	t.Helper()
	out := make([]otp.Verification, len(numbers))
	for i, n := range numbers {
		v, err := f.start(t, n)
		if err != nil {
			t.Fatalf("start %s: %v", n, err)
		}
		out[i] = v
	}
	return out
}

func (f *guardFix) approve(t testing.TB, vs ...otp.Verification) {
	t.Helper()
	ctx := context.Background()
	for _, v := range vs {
		if _, ok, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: f.Code(t, v)}); !ok || err != nil {
			t.Fatalf("approve %s: %v", v.ID, err)
		}
	}
	if err := f.Guard.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func numbers(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = in(prefix, from+i)
	}
	return out
}

// fraudRefusal is the guard's block behind err, nil when it did not refuse.
func fraudRefusal(err error) *otp.FraudBlock {
	var le *otp.LimitError
	if errors.As(err, &le) && le.Reason == otp.LimitFraud && le.Fraud != nil {
		return le.Fraud.Block
	}
	return nil
}

// A range is judged on its settled verifications: at FRAUD_MIN_SENDS of
// them with fewer than FRAUD_MIN_CONVERSION approved it is blocked, one
// fewer or one more approval and it is not.
func TestGuardThresholds(t *testing.T) {
	for _, tc := range []struct {
		name              string
		settled, approved int
		blocked           bool
	}{
		{"one below the minimum, none approved", 19, 0, false},
		{"the minimum, none approved", 20, 0, true},
		{"the minimum, conversion one below", 20, 3, true},
		{"the minimum, conversion at the threshold", 20, 4, false},
		{"one above the minimum, conversion just below", 21, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFix(t, guardConfig, nil)
			vs := f.startAll(t, numbers(rangeA, 0, tc.settled)...)
			f.approve(t, vs[:tc.approved]...)
			f.settle()
			_, err := f.start(t, in(rangeA, 999))
			b := fraudRefusal(err)
			if tc.blocked != (b != nil) {
				t.Fatalf("blocked %v, want %v (err %v)", b != nil, tc.blocked, err)
			}
			if !tc.blocked {
				return
			}
			want := otp.FraudBlock{Scope: otp.FraudScopePrefix, Prefix: rangeA, Since: f.Clock.Now(),
				Until: f.Clock.Now().Add(guardConfig.BlockTTL), Settled: tc.settled, Approved: tc.approved}
			if diff := cmp.Diff(want, *b); diff != "" {
				t.Fatalf("block (-want +got):\n%s", diff)
			}
			if ra := otptest.RetryAfter(err); ra != guardConfig.BlockTTL {
				t.Fatalf("Retry-After %v, want the block's %v", ra, guardConfig.BlockTTL)
			}
			// The next range is not touched, and the blocked one stays so.
			if _, err := f.start(t, in(rangeB, 1)); err != nil {
				t.Fatalf("another range: %v", err)
			}
			if _, err := f.start(t, in(rangeA, 998)); fraudRefusal(err) == nil {
				t.Fatalf("blocked range, later send: %v", err)
			}
		})
	}
}

// Only settled verifications are judged: a wave of new users who have not
// typed their codes yet is never blocked for it, and what left the window
// is forgotten.
func TestGuardJudgesSettledVerificationsInTheWindow(t *testing.T) {
	t.Run("within the grace", func(t *testing.T) {
		f := newGuardFix(t, guardConfig, nil)
		f.startAll(t, numbers(rangeA, 0, 40)...)
		f.Clock.Advance(guardConfig.Grace - time.Second)
		if _, err := f.start(t, in(rangeA, 999)); err != nil {
			t.Fatalf("unsettled: %v", err)
		}
	})
	t.Run("past the window", func(t *testing.T) {
		f := newGuardFix(t, guardConfig, nil)
		f.startAll(t, numbers(rangeA, 0, 40)...)
		f.Clock.Advance(guardConfig.Window + guardConfig.Window/60)
		if _, err := f.start(t, in(rangeA, 999)); err != nil {
			t.Fatalf("out of the window: %v", err)
		}
	})
}

// The edges, to the millisecond: verifications are judged from the end of
// their bucket plus the grace, and until their bucket's start is a window
// old. Buckets are FRAUD_WINDOW/60 wide (a minute here).
func TestGuardEdgesOfGraceAndWindow(t *testing.T) {
	width := guardConfig.Window / 60
	for _, tc := range []struct {
		name    string
		after   time.Duration // since the start of the sends' bucket
		blocked bool
	}{
		{"a millisecond before they settle", width + guardConfig.Grace - time.Millisecond, false},
		{"as they settle", width + guardConfig.Grace, true},
		{"their bucket's start a window old", guardConfig.Window, true},
		{"a millisecond later", guardConfig.Window + time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFix(t, guardConfig, nil)
			now := f.Clock.Now()
			start := now.Truncate(width).Add(width) // the next bucket's start
			f.Clock.Advance(start.Sub(now))
			f.startAll(t, numbers(rangeA, 0, 20)...)
			f.Clock.Advance(tc.after)
			_, err := f.start(t, in(rangeA, 999))
			if got := fraudRefusal(err) != nil; got != tc.blocked {
				t.Fatalf("blocked %v, want %v (%v)", got, tc.blocked, err)
			}
		})
	}
}

// A verification counts once: its resends, and the sends that were
// refused or undone, are no new verifications.
func TestGuardCountsVerificationsNotSends(t *testing.T) {
	ctx := context.Background()
	f := newGuardFix(t, guardConfig, nil)
	vs := f.startAll(t, numbers(rangeA, 0, 10)...)
	// A refused send (cooldown), then a resend of each.
	for _, v := range vs {
		if _, err := f.start(t, v.To); otptest.LimitReason(err) != otp.LimitCooldown {
			t.Fatalf("within the cooldown: %v", err)
		}
	}
	f.Clock.Advance(testPolicy.Cooldown)
	f.startAll(t, numbers(rangeA, 0, 10)...)
	// A start whose task cannot be queued is undone.
	f.Queue.Fail.Store(true)
	for _, n := range numbers(rangeA, 10, 10) {
		if _, err := f.start(t, n); !errors.Is(err, otp.ErrUnavailable) {
			t.Fatalf("queue down: %v", err)
		}
	}
	f.Queue.Fail.Store(false)
	if err := f.Guard.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.counted(t, rangeA); got != 10 {
		t.Fatalf("%d verifications counted, want 10", got)
	}
	f.settle()
	if _, err := f.start(t, in(rangeA, 999)); err != nil {
		t.Fatalf("10 verifications, 30 sends and attempts: %v", err)
	}
}

// counted is the new verifications a range's buckets hold.
func (f *guardFix) counted(t testing.TB, prefix string) int {
	t.Helper()
	all, err := f.RDB.HGetAll(context.Background(), "fraud:{otp:fraud}:p:"+prefix).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range all {
		if _, err := strconv.Atoi(k); err != nil {
			continue
		}
		c, _, _ := strings.Cut(v, "|")
		x, _ := strconv.Atoi(c)
		n += x
	}
	return n
}

// Many api replicas count at once: every new verification is counted
// once, every approval once.
func TestGuardCountsConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newGuardFix(t, guardConfig, nil)
	const n = 60
	var wg sync.WaitGroup
	vs := make([]otp.Verification, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = f.start(t, in(rangeA, i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n / 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = f.Svc.Check(ctx, otp.CheckRequest{ID: vs[i].ID, Code: f.Code(t, vs[i])})
			if i%3 == 0 {
				errs[i] = errors.Join(errs[i], f.Guard.Flush(ctx))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Guard.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.counted(t, rangeA); got != n {
		t.Fatalf("%d counted, want %d", got, n)
	}
	all, _ := f.RDB.HGetAll(ctx, "fraud:{otp:fraud}:p:"+rangeA).Result()
	approved := 0
	for k, v := range all {
		if _, err := strconv.Atoi(k); err == nil {
			if _, a, ok := strings.Cut(v, "|"); ok {
				x, _ := strconv.Atoi(a)
				approved += x
			}
		}
	}
	if approved != n/2 {
		t.Fatalf("%d approvals counted, want %d", approved, n/2)
	}
}

// A wave over many ranges of one country meets the country's own
// minimum; a failed country then admits only ranges with approvals.
func TestGuardCountry(t *testing.T) {
	cfg := guardConfig
	cfg.CountryMinSends = 10
	for _, tc := range []struct {
		name    string
		ranges  int
		blocked bool
	}{
		{"one below the country's minimum", 9, false},
		{"the country's minimum", 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFix(t, cfg, nil)
			// One number in each of many ranges; one of them approved.
			var vs []otp.Verification
			for r := range tc.ranges {
				vs = append(vs, f.startAll(t, fmt.Sprintf("+1415555%d001", r))...)
			}
			f.approve(t, vs[0])
			f.settle()
			_, err := f.start(t, "+14155559999")
			b := fraudRefusal(err)
			if tc.blocked != (b != nil) {
				t.Fatalf("fresh range: blocked %v, want %v (%v)", b != nil, tc.blocked, err)
			}
			if !tc.blocked {
				return
			}
			if b.Scope != otp.FraudScopeCountry || b.Country != "US" || b.Settled != tc.ranges || b.Approved != 1 {
				t.Fatalf("block %+v", b)
			}
			// The range that showed an approval still gets codes.
			if _, err := f.start(t, "+14155550002"); err != nil {
				t.Fatalf("a range with an approval: %v", err)
			}
			// Another country is not touched.
			if _, err := f.start(t, "+447400123456"); err != nil {
				t.Fatalf("GB: %v", err)
			}
		})
	}
}

// GET /v1/fraud/blocks lists each block once, a range's from its own part
// and a country's from the part that blocked it, with what it was judged on.
func TestGuardListsBlocksAcrossParts(t *testing.T) {
	cfg := guardConfig
	cfg.MinSends, cfg.CountryMinSends = 3, 8
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d parts", shards), func(t *testing.T) {
			p := testPolicy
			p.Fraud = otp.FraudOn
			f := &guardFix{Fixture: otptest.New(t, redisServer, app.Options{Policy: p, Guard: &cfg, QueueShards: shards}, otptest.RecordOnly),
				cfg: cfg, events: &otptest.Events{}}
			f.startAll(t, numbers(rangeA, 0, 3)...)
			// A country's wave: one number in each of many ranges of GB.
			for r := range 40 {
				f.startAll(t, fmt.Sprintf("+4474001%02d123", r))
			}
			f.settle()
			if b := fraudRefusal(errOf(f.start(t, in(rangeA, 9)))); b == nil || b.Scope != otp.FraudScopePrefix {
				t.Fatalf("range not blocked: %+v", b)
			}
			for r := range 40 { // each part judges its share of the country
				f.start(t, fmt.Sprintf("+4474009%02d123", r))
			}
			blocks, err := f.Svc.FraudBlocks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, b := range blocks {
				names = append(names, b.Scope+" "+b.Prefix+b.Country)
				if b.Settled == 0 || !b.Until.After(b.Since) {
					t.Errorf("block %+v", b)
				}
			}
			slices.Sort(names) // blocks made at one instant list in either order
			if want := []string{"country GB", "prefix " + rangeA}; !cmp.Equal(names, want) {
				t.Fatalf("blocks %q, want %q", names, want)
			}
		})
	}
}

// Shadow mode makes every decision and refuses nothing: the block is made,
// listed and told, marked shadow.
func TestGuardShadow(t *testing.T) {
	ctx := context.Background()
	cfg := guardConfig
	cfg.Shadow = true
	f := newGuardFix(t, cfg, nil)
	f.startAll(t, numbers(rangeA, 0, 20)...)
	f.settle()
	f.startAll(t, in(rangeA, 998), in(rangeA, 999))
	blocks, err := f.Svc.FraudBlocks(ctx)
	if err != nil || len(blocks) != 1 || !blocks[0].Shadow || blocks[0].Prefix != rangeA {
		t.Fatalf("blocks %+v %v", blocks, err)
	}
	ev := f.events.Of(otp.EventFraudBlocked)
	if len(ev) != 1 || !ev[0].Block.Shadow {
		t.Fatalf("events %+v", ev)
	}
	// Turned on, the guard judges the range anew, and blocks it for real.
	f.Rebuild(t, app.Options{Policy: withFraud(f.Policy, otp.FraudOn), Guard: &guardConfig})
	f.Svc = f.With(f.Policy, func(d *otp.Deps) { d.Events = f.events })
	if _, err := f.start(t, in(rangeA, 997)); fraudRefusal(err) == nil || fraudRefusal(err).Shadow {
		t.Fatalf("guard on: %v", err)
	}
}

func withFraud(p otp.Policy, m otp.FraudMode) otp.Policy { p.Fraud = m; return p }

// The safe list spares a number, or every number of a range, from the
// guard (and from BLOCKED_NUMBER_TYPES), and spared sends are not counted.
func TestGuardSafeList(t *testing.T) {
	ctx := context.Background()
	f := newGuardFix(t, guardConfig, func(p *otp.Policy) { p.SafeList = otp.SafeList{in(rangeA, 500)} })
	f.startAll(t, numbers(rangeA, 0, 20)...)
	f.settle()
	if _, err := f.start(t, in(rangeA, 999)); fraudRefusal(err) == nil {
		t.Fatalf("blocked range: %v", err)
	}
	if _, err := f.Svc.AddSafe(ctx, in(rangeA, 501)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.AddSafe(ctx, "+4420"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{in(rangeA, 500), in(rangeA, 501)} {
		if _, err := f.start(t, n); err != nil {
			t.Fatalf("safe-listed %s: %v", n, err)
		}
	}
	list, err := f.Svc.FraudSafeList(ctx)
	want := []otp.SafeListEntry{{Entry: in(rangeA, 500), Source: "config"}, {Entry: in(rangeA, 501), Source: "api"}, {Entry: "+4420", Source: "api"}}
	if err != nil || !cmp.Equal(list, want, cmpSortEntries) {
		t.Fatalf("safe list %+v %v", list, err)
	}
	if err := f.Svc.RemoveSafe(ctx, in(rangeA, 500)); !errors.Is(err, otp.ErrSafeListFixed) {
		t.Fatalf("remove a FRAUD_SAFE_LIST entry: %v", err)
	}
	if err := f.Svc.RemoveSafe(ctx, in(rangeA, 501)); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(testPolicy.Cooldown)
	if _, err := f.start(t, in(rangeA, 501)); fraudRefusal(err) == nil {
		t.Fatalf("taken off the list: %v", err)
	}
	if err := f.Guard.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.counted(t, rangeA); got != 20 {
		t.Fatalf("%d counted: the safe-listed and refused sends count too", got)
	}
}

var cmpSortEntries = cmp.Transformer("sort", func(in []otp.SafeListEntry) map[string]string {
	out := map[string]string{}
	for _, e := range in {
		out[e.Entry] = e.Source
	}
	return out
})

// A block is lifted through the API at once, its counts restarted; one
// that runs out is reported ended once.
func TestGuardBlockEnds(t *testing.T) {
	ctx := context.Background()
	f := newGuardFix(t, guardConfig, nil)
	block := func() otp.FraudBlock {
		t.Helper()
		f.startAll(t, numbers(rangeA, int(f.Clock.Now().Unix()%20)*40, 20)...)
		f.settle()
		_, err := f.start(t, in(rangeA, 999))
		b := fraudRefusal(err)
		if b == nil {
			t.Fatalf("not blocked: %v", err)
		}
		return *b
	}
	b := block()
	if ends := f.Queue.BlockEnds(); len(ends) != 1 || ends[0] != rangeA+"@"+strconv.FormatInt(b.Until.UnixMilli(), 10) {
		t.Fatalf("block ends scheduled: %v", ends)
	}
	if _, err := f.Svc.LiftFraudBlock(ctx, "+99"); !errors.Is(err, otp.ErrNoFraudBlock) {
		t.Fatalf("lift an unknown block: %v", err)
	}
	lifted, err := f.Svc.LiftFraudBlock(ctx, rangeA)
	if err != nil || !cmp.Equal(lifted, b) {
		t.Fatalf("lift: %+v %v", lifted, err)
	}
	if _, err := f.start(t, in(rangeA, 998)); err != nil {
		t.Fatalf("after the lift: %v", err)
	}
	if bs, _ := f.Svc.FraudBlocks(ctx); len(bs) != 0 {
		t.Fatalf("blocks after the lift: %+v", bs)
	}
	if got := f.counted(t, rangeA); got != 1 {
		t.Fatalf("counts not restarted: %d", got)
	}
	// Its scheduled end finds it lifted: nothing more to tell.
	if err := f.Svc.FraudBlockEnded(ctx, rangeA, b.Until); err != nil {
		t.Fatal(err)
	}
	unblocked := f.events.Of(otp.EventFraudUnblocked)
	if len(unblocked) != 1 || unblocked[0].Unblock != otp.UnblockLifted {
		t.Fatalf("unblocked events %+v", unblocked)
	}

	b = block()
	if err := f.Svc.FraudBlockEnded(ctx, rangeA, b.Until); !errors.Is(err, otp.ErrFraudBlockNotOver) {
		t.Fatalf("ended early: %v", err)
	}
	f.Clock.Advance(guardConfig.BlockTTL)
	for range 2 {
		if err := f.Svc.FraudBlockEnded(ctx, rangeA, b.Until); err != nil {
			t.Fatal(err)
		}
	}
	unblocked = f.events.Of(otp.EventFraudUnblocked)
	if len(unblocked) != 2 || unblocked[1].Unblock != otp.UnblockExpired || !unblocked[1].Block.Since.Equal(b.Since) {
		t.Fatalf("unblocked events %+v", unblocked)
	}
	if _, err := f.start(t, in(rangeA, 997)); err != nil {
		t.Fatalf("after the block: %v", err)
	}
}

// A block that ends while the verifications it was made on are still in
// the window does not come back on them: the range starts afresh.
func TestGuardStartsAfreshAfterABlock(t *testing.T) {
	cfg := guardConfig
	cfg.BlockTTL = 10 * time.Minute
	f := newGuardFix(t, cfg, nil)
	f.startAll(t, numbers(rangeA, 0, 20)...)
	f.settle()
	if _, err := f.start(t, in(rangeA, 999)); fraudRefusal(err) == nil {
		t.Fatalf("not blocked: %v", err)
	}
	f.Clock.Advance(cfg.BlockTTL)
	f.startAll(t, numbers(rangeA, 100, 19)...)
	f.settle()
	if _, err := f.start(t, in(rangeA, 998)); err != nil {
		t.Fatalf("19 new verifications since the block: %v", err)
	}
	f.startAll(t, numbers(rangeA, 200, 1)...)
	f.settle()
	if _, err := f.start(t, in(rangeA, 997)); fraudRefusal(err) == nil {
		t.Fatalf("21 new verifications since the block, none approved: %v", err)
	}
}

// A workflow step to a blocked range is skipped, named by its reason.
func TestGuardSkipsWorkflowSteps(t *testing.T) {
	ctx := context.Background()
	f := newGuardFix(t, guardConfig, func(p *otp.Policy) {
		p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelCall: true}
	})
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: in(rangeA, 999), Workflow: []string{otp.ChannelSMS, otp.ChannelCall}})
	if err != nil {
		t.Fatal(err)
	}
	f.startAll(t, numbers(rangeA, 0, 20)...)
	f.settle()
	if _, err := f.start(t, in(rangeA, 998)); fraudRefusal(err) == nil {
		t.Fatalf("not blocked: %v", err)
	}
	if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err != nil {
		t.Fatal(err)
	}
	got, err := f.Svc.Get(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Workflow.Steps[1]; st.Status != otp.StepSkipped || st.Reason != string(otp.LimitFraud) {
		t.Fatalf("step 2: %+v", st)
	}
}

// FRAUD_WINDOW changed: the buckets counted with another width are
// dropped, not read as other times.
func TestGuardWindowChange(t *testing.T) {
	f := newGuardFix(t, guardConfig, nil)
	f.startAll(t, numbers(rangeA, 0, 20)...)
	cfg := guardConfig
	cfg.Window = 2 * time.Hour
	f.Rebuild(t, app.Options{Policy: f.Policy, Guard: &cfg})
	f.cfg = cfg
	f.settle()
	if _, err := f.start(t, in(rangeA, 999)); err != nil {
		t.Fatalf("counts of another window: %v", err)
	}
}

// BenchmarkGuardMemoryPerRange measures what the guard keeps for one
// range: a range with a verification in every bucket of its window, some
// approved (the most it keeps), and one with a single verification.
func BenchmarkGuardMemoryPerRange(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		buckets int
	}{{"one verification", 1}, {"every bucket of the window", 62}} {
		b.Run(tc.name, func(b *testing.B) {
			var bytes int64
			for range b.N {
				f := newGuardFix(b, guardConfig, nil)
				for i := range tc.buckets {
					vs := f.startAll(b, in(rangeA, i), in(rangeA, 100+i))
					f.approve(b, vs[0])
					f.Clock.Advance(guardConfig.Window / 60)
				}
				n, err := f.RDB.MemoryUsage(ctx, "fraud:{otp:fraud}:p:"+rangeA).Result()
				if err != nil {
					b.Fatal(err)
				}
				bytes += n
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/range")
		})
	}
}

func errOf(_ otp.Verification, err error) error { return err }
