package otp_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/otp"
)

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// queue records jobs; fail makes EnqueueSend fail.
type queue struct {
	mu    sync.Mutex
	jobs  []otp.SendJob
	steps []string // "id:step"
	fail  atomic.Bool
	// failStep makes ScheduleStep fail for that step.
	failStep atomic.Int32
}

// ScheduleStep keeps a step once, as asynq does by TaskID.
func (q *queue) ScheduleStep(_ context.Context, id string, step int, _ time.Duration) error {
	if q.failStep.Load() == int32(step) {
		return errors.New("queue down")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	key := id + ":" + strconv.Itoa(step)
	for _, s := range q.steps {
		if s == key {
			return nil
		}
	}
	q.steps = append(q.steps, key)
	return nil
}

func (q *queue) EnqueueSend(_ context.Context, j otp.SendJob) error {
	if q.fail.Load() {
		return errors.New("queue down")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, old := range q.jobs {
		if old.ID == j.ID && old.Attempt == j.Attempt {
			return nil // one task per attempt, as asynq's TaskID makes it
		}
	}
	q.jobs = append(q.jobs, j)
	return nil
}

var testPolicy = otp.Policy{
	TTL: 10 * time.Minute, Retention: 24 * time.Hour, Cooldown: 30 * time.Second,
	MaxSends: 3, MaxChecks: 3, DefaultRegion: "US",
}

type fixture struct {
	svc   *otp.Service
	store *otp.Store
	codec *otp.Codec
	clock *clocktest.Clock
	queue *queue
	rdb   *redis.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb := redisServer.Client()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	clock := newClock()
	f := &fixture{store: otp.NewStore(rdb).WithClock(clock.Now), codec: newCodec(t, 6), clock: clock, queue: &queue{}, rdb: rdb}
	f.svc = otp.NewService(f.codec, f.store, f.queue, testPolicy, discardLogger())
	return f
}

// code recovers the code of a verification: its sealed code, opened.
func (f *fixture) code(t *testing.T, v otp.Verification) string {
	t.Helper()
	tag, _ := otp.TagOfID(v.ID)
	_, sealed, err := f.store.GetWithSealed(context.Background(), tag, v.ID)
	if err != nil || sealed == "" {
		t.Fatalf("GetWithSealed: %q %v", sealed, err)
	}
	code, err := f.codec.Open(v.ID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// startParams is a store-level start of verification id for number to,
// under testPolicy at the fixture's time, with stand-in code material: for
// tests that drive the store directly (replays, collisions).
func (f *fixture) startParams(id, to string) otp.StartParams {
	tag, _ := otp.TagOfID(id)
	return otp.StartParams{Tag: tag, NewID: id, To: to, Channel: "sms", MAC: "m", Sealed: "s",
		TTL: testPolicy.TTL, Retention: testPolicy.Retention,
		MaxSends: testPolicy.MaxSends, Cooldown: testPolicy.Cooldown}
}

func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func limitReason(err error) otp.LimitReason {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.Reason
	}
	return ""
}

func finished(err error) otp.Status {
	var fe *otp.FinishedError
	if errors.As(err, &fe) {
		return fe.Status
	}
	return ""
}

const num = "+14155552671"

func TestStartCreatesThenResendsSameCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, created, err := f.svc.Start(ctx, num, "")
	if err != nil || !created {
		t.Fatalf("Start: %v created=%v", err, created)
	}
	if v.Status != otp.StatusPending || v.SendAttempts != 1 || v.To != num || v.Channel != "sms" ||
		v.Delivery.Status != otp.DeliveryQueued || !v.ExpiresAt.Equal(f.clock.Now().Add(testPolicy.TTL)) {
		t.Fatalf("unexpected verification %+v", v)
	}
	first := f.code(t, v)

	_, _, err = f.svc.Start(ctx, "(415) 555-2671", "sms")
	if limitReason(err) != otp.LimitCooldown {
		t.Fatalf("resend inside cooldown: %v", err)
	}
	var le *otp.LimitError
	errors.As(err, &le)
	if le.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v", le.RetryAfter)
	}

	f.clock.Advance(10 * time.Second)
	_, _, err = f.svc.Start(ctx, num, "")
	errors.As(err, &le)
	if le.RetryAfter != 20*time.Second {
		t.Fatalf("RetryAfter after 10s = %v", le.RetryAfter)
	}

	f.clock.Advance(20 * time.Second)
	v2, created, err := f.svc.Start(ctx, num, "")
	if err != nil || created || v2.ID != v.ID || v2.SendAttempts != 2 {
		t.Fatalf("resend: %+v created=%v err=%v", v2, created, err)
	}
	if f.code(t, v2) != first {
		t.Fatal("resend changed the code")
	}
	f.clock.Advance(30 * time.Second)
	if _, _, err := f.svc.Start(ctx, num, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	_, _, err = f.svc.Start(ctx, num, "")
	if limitReason(err) != otp.LimitMaxSends {
		t.Fatalf("4th send with MaxSends 3: %v", err)
	}
	if len(f.queue.jobs) != 3 || f.queue.jobs[2].Attempt != 3 || f.queue.jobs[2].ID != v.ID {
		t.Fatalf("jobs %+v", f.queue.jobs)
	}

	// After expiry a send starts a new verification, and the old one reads expired.
	f.clock.Advance(testPolicy.TTL)
	v3, created, err := f.svc.Start(ctx, num, "")
	if err != nil || !created || v3.ID == v.ID || v3.SendAttempts != 1 {
		t.Fatalf("after expiry: %+v %v %v", v3, created, err)
	}
	old, err := f.svc.Get(ctx, v.ID)
	if err != nil || old.Status != otp.StatusExpired {
		t.Fatalf("old verification: %+v %v", old, err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	t.Run("right code approves once", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		got, valid, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
		if err != nil || valid || got.CheckAttempts != 1 || got.Status != otp.StatusPending {
			t.Fatalf("wrong code: %+v %v %v", got, valid, err)
		}
		got, valid, err = f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})
		if err != nil || !valid || got.Status != otp.StatusApproved || got.ID != v.ID {
			t.Fatalf("right code: %+v %v %v", got, valid, err)
		}
		_, _, err = f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code})
		if finished(err) != otp.StatusApproved {
			t.Fatalf("second use: %v", err)
		}
		// The code material is gone once approved.
		tag, _ := otp.TagOfID(v.ID)
		if _, sealed, _ := f.store.GetWithSealed(ctx, tag, v.ID); sealed != "" {
			t.Fatal("code material survived approval")
		}
		// A new send after approval starts a new verification, once the
		// number's cooldown has passed.
		if _, _, err := f.svc.Start(ctx, num, ""); limitReason(err) != otp.LimitCooldown {
			t.Fatalf("send right after approval: %v", err)
		}
		f.clock.Advance(testPolicy.Cooldown)
		v2, created, err := f.svc.Start(ctx, num, "")
		if err != nil || !created || v2.ID == v.ID {
			t.Fatalf("send after approval: %v %v", created, err)
		}
	})
	t.Run("max checks locks until expiry, resend included", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		for i := 1; i <= 3; i++ {
			got, valid, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
			if err != nil || valid || got.CheckAttempts != i {
				t.Fatalf("attempt %d: %+v %v", i, got, err)
			}
			want := otp.StatusPending
			if i == 3 {
				want = otp.StatusMaxAttempts
			}
			if got.Status != want {
				t.Fatalf("attempt %d: status %s", i, got.Status)
			}
		}
		_, _, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code})
		if limitReason(err) != otp.LimitMaxChecks {
			t.Fatalf("right code after lock: %v", err)
		}
		f.clock.Advance(time.Minute)
		_, _, err = f.svc.Start(ctx, num, "")
		var le *otp.LimitError
		if !errors.As(err, &le) || le.Reason != otp.LimitMaxChecks || le.RetryAfter != 9*time.Minute {
			t.Fatalf("send while locked: %v", err)
		}
		if _, err := f.svc.Cancel(ctx, v.ID); limitReason(err) != otp.LimitMaxChecks {
			t.Fatalf("cancel must not lift the lock: %v", err)
		}
		f.clock.Advance(9 * time.Minute)
		_, _, err = f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code})
		if finished(err) != otp.StatusMaxAttempts {
			t.Fatalf("check after lock expired: %v", err)
		}
		if _, created, err := f.svc.Start(ctx, num, ""); err != nil || !created {
			t.Fatalf("send after lock expired: %v", err)
		}
	})
	t.Run("resend does not reset checks", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
		f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
		f.clock.Advance(time.Minute)
		v2, _, err := f.svc.Start(ctx, num, "")
		if err != nil || v2.CheckAttempts != 2 {
			t.Fatalf("resend: %+v %v", v2, err)
		}
		got, _, _ := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
		if got.Status != otp.StatusMaxAttempts {
			t.Fatalf("third wrong code after resend: %s", got.Status)
		}
	})
	t.Run("expiry by clock", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		f.clock.Advance(testPolicy.TTL)
		_, _, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code})
		if finished(err) != otp.StatusExpired {
			t.Fatalf("check after TTL: %v", err)
		}
		got, _ := f.svc.Get(ctx, v.ID)
		if got.Status != otp.StatusExpired {
			t.Fatalf("status %s", got.Status)
		}
	})
	// The code lives in the number's hash, which outlives it (retention),
	// so its material goes at the first touch after expiry; until then
	// every script refuses it by time.
	t.Run("expired code material goes at the first touch", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		tag, _ := otp.TagOfID(v.ID)
		f.clock.Advance(testPolicy.TTL)
		if _, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); finished(err) != otp.StatusExpired {
			t.Fatalf("check: %v", err)
		}
		if n := f.rdb.HLen(ctx, "otp:{"+tag+"}").Val(); n == 0 {
			t.Fatal("the verification is gone")
		}
		if left := f.rdb.HMGet(ctx, "otp:{"+tag+"}", "h", "e").Val(); left[0] != nil || left[1] != nil {
			t.Fatalf("code material outlived the expired check: %q", left)
		}
	})
	t.Run("not found", func(t *testing.T) {
		f := newFixture(t)
		other, _ := f.codec.NewID(f.codec.Tag(num))
		for name, req := range map[string]otp.CheckRequest{
			"unknown number": {To: num, Code: "123456"},
			"unknown id":     {ID: other, Code: "123456"},
			"malformed id":   {ID: "VE123", Code: "123456"},
		} {
			if _, _, err := f.svc.Check(ctx, req); !errors.Is(err, otp.ErrNotFound) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
	t.Run("bad input", func(t *testing.T) {
		f := newFixture(t)
		for name, req := range map[string]otp.CheckRequest{
			"neither":    {Code: "123456"},
			"both":       {ID: "VE1", To: num, Code: "123456"},
			"short code": {To: num, Code: "12345"},
			"letters":    {To: num, Code: "12345a"},
		} {
			if _, _, err := f.svc.Check(ctx, req); !errors.Is(err, otp.ErrInvalidInput) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, _, err := f.svc.Check(ctx, otp.CheckRequest{To: "nope", Code: "123456"}); !errors.Is(err, otp.ErrInvalidPhone) {
			t.Errorf("bad phone: %v", err)
		}
	})
}

func TestConcurrentChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("right code approves exactly once", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		var approvals atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok, _ := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code}); ok {
					approvals.Add(1)
				}
			}()
		}
		wg.Wait()
		if approvals.Load() != 1 {
			t.Fatalf("%d approvals", approvals.Load())
		}
	})
	t.Run("wrong codes never pass the limit", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		code := f.code(t, v)
		var wrongAnswers atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong(code)}); err == nil {
					wrongAnswers.Add(1)
				}
			}()
		}
		wg.Wait()
		got, _ := f.svc.Get(ctx, v.ID)
		if wrongAnswers.Load() != 3 || got.CheckAttempts != 3 || got.Status != otp.StatusMaxAttempts {
			t.Fatalf("answered %d, state %+v", wrongAnswers.Load(), got)
		}
	})
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, _ := f.svc.Start(ctx, num, "")
	code := f.code(t, v)
	for i := 0; i < 2; i++ { // idempotent
		got, err := f.svc.Cancel(ctx, v.ID)
		if err != nil || got.Status != otp.StatusCanceled {
			t.Fatalf("cancel %d: %+v %v", i, got, err)
		}
	}
	if _, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); finished(err) != otp.StatusCanceled {
		t.Fatalf("check after cancel: %v", err)
	}
	// Cancel-and-restart does not skip the per-number cooldown.
	if _, _, err := f.svc.Start(ctx, num, ""); limitReason(err) != otp.LimitCooldown {
		t.Fatalf("send right after cancel: %v", err)
	}
	f.clock.Advance(testPolicy.Cooldown)
	v2, _, _ := f.svc.Start(ctx, num, "")
	f.svc.Check(ctx, otp.CheckRequest{ID: v2.ID, Code: f.code(t, v2)})
	if _, err := f.svc.Cancel(ctx, v2.ID); finished(err) != otp.StatusApproved {
		t.Fatalf("cancel approved: %v", err)
	}
	unknown, _ := f.codec.NewID(f.codec.Tag(num))
	if _, err := f.svc.Cancel(ctx, unknown); !errors.Is(err, otp.ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestEnqueueFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.queue.fail.Store(true)
	if _, _, err := f.svc.Start(ctx, num, ""); !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if n, _ := f.rdb.DBSize(ctx).Result(); n != 0 {
		keys, _ := f.rdb.Keys(ctx, "*").Result()
		t.Fatalf("created verification left keys behind: %v", keys)
	}
	// A resend that fails to enqueue gives back its send attempt and cooldown.
	f.queue.fail.Store(false)
	v, _, _ := f.svc.Start(ctx, num, "")
	f.clock.Advance(time.Minute)
	f.queue.fail.Store(true)
	if _, _, err := f.svc.Start(ctx, num, ""); !errors.Is(err, otp.ErrUnavailable) {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, v.ID)
	if got.SendAttempts != 1 || !got.LastSendAt.Equal(v.LastSendAt) {
		t.Fatalf("resend not rolled back: %+v", got)
	}
	f.queue.fail.Store(false)
	if got, _, err := f.svc.Start(ctx, num, ""); err != nil || got.SendAttempts != 2 {
		t.Fatalf("resend after recovery: %+v %v", got, err)
	}
	// A new verification replacing an expired one restores the pointer to
	// the old one, so a check by number still says "expired".
	f.clock.Advance(testPolicy.TTL)
	f.queue.fail.Store(true)
	f.svc.Start(ctx, num, "")
	if _, _, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: "123456"}); finished(err) != otp.StatusExpired {
		t.Fatalf("check after rolled-back replacement: %v", err)
	}
}

func TestSendAttempts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const stale = 10 * time.Second
	v, _, _ := f.svc.Start(ctx, num, "")
	tag, _ := otp.TagOfID(v.ID)
	claim := func(n int) otp.Claim {
		t.Helper()
		c, err := f.store.ClaimSend(ctx, tag, v.ID, n, stale)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	update := func(op func(context.Context, string, string, int, otp.AttemptUpdate) (bool, error), n int, st otp.DeliveryStatus, sid string, ec int) bool {
		t.Helper()
		ok, err := op(ctx, tag, v.ID, n, otp.AttemptUpdate{Status: st, MessageSID: sid, ErrorCode: ec})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	c := claim(1)
	if c.Outcome != otp.ClaimSend || c.Claims != 1 || c.To != num || !c.ExpiresAt.Equal(v.ExpiresAt) {
		t.Fatalf("first claim %+v", c)
	}
	if code, err := f.codec.Open(v.ID, c.Sealed); err != nil || code != f.code(t, v) {
		t.Fatalf("sealed code from claim: %v", err)
	}
	// A second run while the first is within the HTTP timeout must wait.
	if c := claim(1); c.Outcome != otp.ClaimBusy || c.Wait != stale {
		t.Fatalf("claim while held: %+v", c)
	}
	// Past the timeout the first run is presumed dead: take over, once.
	f.clock.Advance(stale + time.Second)
	if c := claim(1); c.Outcome != otp.ClaimSend || c.Claims != 2 {
		t.Fatalf("takeover: %+v", c)
	}
	if !update(f.store.RecordAttempt, 1, otp.DeliverySending, "SM1", 0) {
		t.Fatal("record refused")
	}
	if c := claim(1); c.Outcome != otp.ClaimAlreadySent || c.MessageSID != "SM1" {
		t.Fatalf("claim after acceptance: %+v", c)
	}

	// Callbacks: forward only, and only for the message they name.
	for _, tc := range []struct {
		st   otp.DeliveryStatus
		sid  string
		want bool
	}{
		{otp.DeliverySent, "SM1", true},
		{otp.DeliveryDelivered, "SM1", true},
		{otp.DeliverySent, "SM1", false},          // late
		{otp.DeliveryUndelivered, "SM1", false},   // final is final
		{otp.DeliveryDelivered, "SMother", false}, // another message
	} {
		if got := update(f.store.RecordCallback, 1, tc.st, tc.sid, 0); got != tc.want {
			t.Fatalf("callback %s %s: %v", tc.st, tc.sid, got)
		}
	}
	got, _ := f.svc.Get(ctx, v.ID)
	if got.Delivery.Status != otp.DeliveryDelivered || got.Delivery.MessageSID != "SM1" {
		t.Fatalf("delivery %+v", got.Delivery)
	}

	// A resend supersedes attempt 1's task; a refused attempt is released.
	f.clock.Advance(time.Minute)
	f.svc.Start(ctx, num, "")
	if c := claim(3); c.Outcome != otp.ClaimSkip || c.Reason != "rolled_back" {
		t.Fatalf("claim of a future attempt: %+v", c)
	}
	if c := claim(2); c.Outcome != otp.ClaimSend {
		t.Fatalf("claim 2: %+v", c)
	}
	if err := f.store.ReleaseSend(ctx, tag, v.ID, 2, 20500); err != nil {
		t.Fatal(err)
	}
	// The released claim sent nothing: the retry is not a takeover.
	if c := claim(2); c.Outcome != otp.ClaimSend || c.Claims != 1 {
		t.Fatalf("claim after release: %+v", c)
	}
	update(f.store.RecordAttempt, 2, otp.DeliveryFailed, "", 21211)
	got, _ = f.svc.Get(ctx, v.ID)
	if len(got.Attempts) != 2 || got.Attempts[0].Status != otp.DeliveryDelivered ||
		got.Delivery.Status != otp.DeliveryFailed || got.Delivery.ErrorCode != 21211 || got.Attempts[1].Attempt != 2 {
		t.Fatalf("attempts %+v delivery %+v", got.Attempts, got.Delivery)
	}

	// Attempt 1 has a MessageSid; its task re-run would not send.
	if c := claim(1); c.Outcome != otp.ClaimAlreadySent {
		t.Fatalf("re-run of attempt 1: %+v", c)
	}
	f.svc.Cancel(ctx, v.ID)
	if c := claim(2); c.Outcome != otp.ClaimSkip || c.Reason != "canceled" {
		t.Fatalf("claim after cancel: %+v", c)
	}
	unknown, _ := f.codec.NewID(tag)
	if c, _ := f.store.ClaimSend(ctx, tag, unknown, 1, stale); c.Outcome != otp.ClaimSkip || c.Reason != "gone" {
		t.Fatalf("claim of unknown: %+v", c)
	}
	v2, _, _ := f.svc.Start(ctx, "+14155550000", "")
	tag2, _ := otp.TagOfID(v2.ID)
	f.clock.Advance(testPolicy.TTL)
	if c, _ := f.store.ClaimSend(ctx, tag2, v2.ID, 1, stale); c.Outcome != otp.ClaimSkip || c.Reason != "expired" {
		t.Fatalf("claim after expiry: %+v", c)
	}
}

// No key or value in Redis may contain a code in plaintext, and the code's
// key must expire with the code.
func TestNoPlaintextAtRest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var codes []string
	for i := 0; i < 20; i++ {
		v, _, err := f.svc.Start(ctx, "+1415555"+strings.Repeat("0", 3)+string(rune('0'+i%10)), "")
		if err != nil {
			if limitReason(err) == otp.LimitCooldown {
				continue
			}
			t.Fatal(err)
		}
		codes = append(codes, f.code(t, v))
		tag, _ := otp.TagOfID(v.ID)
		// Only a 128-bit MAC and the sealed code, as raw bytes.
		code := f.rdb.HMGet(ctx, "otp:{"+tag+"}", "h", "e").Val()
		if mac, _ := code[0].(string); len(mac) != 16 {
			t.Fatalf("MAC of %d bytes", len(mac))
		}
		if sealed, _ := code[1].(string); len(sealed) != 6+16 {
			t.Fatalf("sealed code of %d bytes", len(sealed))
		}
	}
	keys, _ := f.rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		var blob string
		switch f.rdb.Type(ctx, k).Val() {
		case "hash":
			for fk, fv := range f.rdb.HGetAll(ctx, k).Val() {
				blob += fk + "=" + fv + ";"
			}
		case "string":
			blob = f.rdb.Get(ctx, k).Val()
		}
		for _, c := range codes {
			if strings.Contains(k, c) || strings.Contains(blob, c) {
				// A 6-digit code can appear by chance inside a hex MAC or a
				// timestamp; only a field holding exactly the code is a leak.
				for _, part := range strings.FieldsFunc(blob, func(r rune) bool { return r == '=' || r == ';' }) {
					if part == c {
						t.Fatalf("plaintext code %s at rest in %s", c, k)
					}
				}
			}
		}
	}
}

// A send whose script reply was lost is undone by id: the verification it
// may have created goes, anything else stays.
func TestRollbackCreated(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, _ := f.svc.Start(ctx, num, "")
	tag, _ := otp.TagOfID(v.ID)
	other, _ := f.codec.NewID(tag)
	if err := f.store.RollbackCreated(ctx, tag, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, v.ID); err != nil {
		t.Fatalf("rollback of another id removed the verification: %v", err)
	}
	if err := f.store.RollbackCreated(ctx, tag, v.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	if _, created, err := f.svc.Start(ctx, num, ""); err != nil || !created {
		t.Fatalf("send after rollback: %v", err)
	}
}

// Cancel-and-restart must not refill the wrong-code budget.
func TestCancelDoesNotResetChecks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, _ := f.svc.Start(ctx, num, "")
	code := f.code(t, v)
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
	f.svc.Cancel(ctx, v.ID)
	f.clock.Advance(testPolicy.Cooldown)
	v2, created, err := f.svc.Start(ctx, num, "")
	if err != nil || !created || v2.CheckAttempts != 2 {
		t.Fatalf("restart after cancel: %+v %v", v2, err)
	}
	got, _, _ := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(f.code(t, v2))})
	if got.Status != otp.StatusMaxAttempts {
		t.Fatalf("third wrong code across cancel: %s", got.Status)
	}
	// Once the canceled verification's time is up, a fresh start is fresh.
	f.clock.Advance(testPolicy.TTL)
	v3, _, _ := f.svc.Start(ctx, num, "")
	if v3.CheckAttempts != 0 {
		t.Fatalf("checks carried past expiry: %d", v3.CheckAttempts)
	}
}

// A replayed start script (a retried command whose first reply was lost)
// answers as the first run did instead of refusing with a cooldown.
func TestStartReplayIsIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tag := f.codec.Tag(num)
	id, _ := f.codec.NewID(tag)
	p := f.startParams(id, num)
	first, err := f.store.Start(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.store.Start(ctx, p)
	if err != nil || !again.Created || again.Verification.ID != id || again.Verification.SendAttempts != first.Verification.SendAttempts {
		t.Fatalf("replay: %+v %v", again, err)
	}
}

// A finished verification that a new one replaces moves to an archive key:
// still readable by id for its retention, without code material, and still
// answering checks, cancels and delivery reports as finished.
func TestReplacedVerificationStaysReadable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old, _, _ := f.svc.Start(ctx, num, "")
	code := f.code(t, old)
	if _, ok, _ := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code}); !ok {
		t.Fatal("not approved")
	}
	f.clock.Advance(testPolicy.Cooldown)
	cur, created, err := f.svc.Start(ctx, num, "")
	if err != nil || !created || cur.ID == old.ID {
		t.Fatalf("new verification: %+v %v", cur, err)
	}
	tag, _ := otp.TagOfID(old.ID)
	archive := "otp:{" + tag + "}:v:" + old.ID
	if keys := f.rdb.Keys(ctx, "*").Val(); len(keys) != 2 {
		t.Fatalf("keys %v, want the number's hash and one archive", keys)
	}
	for _, field := range []string{"h", "e", "s", "f", "p"} {
		if f.rdb.HExists(ctx, archive, field).Val() {
			t.Errorf("archive holds %q", field)
		}
	}
	wantTTL := old.ExpiresAt.Add(testPolicy.Retention).Sub(f.clock.Now())
	if ttl := f.rdb.PTTL(ctx, archive).Val(); ttl <= 0 || ttl > wantTTL {
		t.Errorf("archive TTL %v, want at most %v", ttl, wantTTL)
	}
	got, err := f.svc.Get(ctx, old.ID)
	if err != nil || got.Status != otp.StatusApproved || got.To != num || got.SendAttempts != 1 || len(got.Attempts) != 1 {
		t.Fatalf("old by id: %+v %v", got, err)
	}
	if _, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: old.ID, Code: code}); finished(err) != otp.StatusApproved {
		t.Fatalf("check of the old one by id: %v", err)
	}
	if _, err := f.svc.Cancel(ctx, old.ID); finished(err) != otp.StatusApproved {
		t.Fatalf("cancel of the old one: %v", err)
	}
	// A late delivery report still lands on the old verification.
	ok, err := f.store.RecordAttempt(ctx, tag, old.ID, 1, otp.AttemptUpdate{Status: otp.DeliveryDelivered, MessageSID: "SM1"})
	if err != nil || !ok {
		t.Fatalf("record on archive: %v %v", ok, err)
	}
	if got, _ := f.svc.Get(ctx, old.ID); got.Delivery.Status != otp.DeliveryDelivered {
		t.Fatalf("archived delivery %s", got.Delivery.Status)
	}
	if claim, _ := f.store.ClaimSend(ctx, tag, old.ID, 1, time.Minute); claim.Outcome != otp.ClaimAlreadySent {
		t.Fatalf("claim on archive: %+v", claim)
	}
	// The current one is untouched by all that.
	if got, _ := f.svc.Get(ctx, cur.ID); got.Status != otp.StatusPending || got.Delivery.Status != otp.DeliveryQueued {
		t.Fatalf("current: %+v", got)
	}
	// After its retention the archive is gone.
	f.rdb.PExpire(ctx, archive, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if _, err := f.svc.Get(ctx, old.ID); !errors.Is(err, otp.ErrNotFound) {
		t.Fatalf("after retention: %v", err)
	}
}

// A pending verification is one hash, and what leaves Redis never
// includes its code material or the number's own fields.
func TestPendingVerificationIsOneKey(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.SendCap = otp.Window{Count: 5, Period: time.Hour}
		p.FailureLock = otp.Window{Count: 100, Period: time.Hour}
	})
	v, _, _ := f.svc.Start(ctx, num, "")
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(f.code(t, v))})
	tag, _ := otp.TagOfID(v.ID)
	keys := f.rdb.Keys(ctx, "*").Val()
	if len(keys) != 1 || keys[0] != "otp:{"+tag+"}" {
		t.Fatalf("keys %v", keys)
	}
	if enc := f.rdb.ObjectEncoding(ctx, keys[0]).Val(); enc != "listpack" {
		t.Fatalf("encoding %s: the hash left its compact form", enc)
	}
	for _, field := range []string{"h", "e", "s", "f"} {
		if !f.rdb.HExists(ctx, keys[0], field).Val() {
			t.Errorf("hash lacks %q", field)
		}
	}
	// The hash lives as long as its longest deadline: of the send log's
	// hour, the failures' hour and TTL + retention, the last.
	want := testPolicy.TTL + testPolicy.Retention
	if ttl := f.rdb.PTTL(ctx, keys[0]).Val(); ttl < want-time.Second || ttl > want {
		t.Fatalf("TTL %v, want %v", ttl, want)
	}
	got, _ := f.svc.Get(ctx, v.ID)
	if got.CheckAttempts != 1 || got.Channel != "sms" || got.Status != otp.StatusPending {
		t.Fatalf("view %+v", got)
	}
}

// Two numbers with one hash tag would share a hash: the second is refused,
// and the first is left as it was.
func TestTagCollisionIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, _ := f.svc.Start(ctx, num, "")
	tag, _ := otp.TagOfID(v.ID)
	id, _ := f.codec.NewID(tag)
	_, err := f.store.Start(ctx, f.startParams(id, "+14155550000"))
	if !errors.Is(err, otp.ErrCollision) || !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("colliding start: %v", err)
	}
	if got, err := f.svc.Get(ctx, v.ID); err != nil || got.To != num || got.SendAttempts != 1 {
		t.Fatalf("first number's verification: %+v %v", got, err)
	}
	if _, err := f.store.Check(ctx, otp.CheckParams{Tag: tag, To: "+14155550000", MAC: "m", MaxChecks: 3}); !errors.Is(err, otp.ErrNotFound) {
		t.Fatalf("check of the colliding number: %v", err)
	}
}

// A start whose reply was lost is replayed after someone else resent on the
// verification: the replay reports two sends, and rolling it back must not
// take the resend with it.
func TestRollbackOfReplayKeepsLaterResend(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tag := f.codec.Tag(num)
	id, _ := f.codec.NewID(tag)
	p := f.startParams(id, num)
	if _, err := f.store.Start(ctx, p); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(testPolicy.Cooldown)
	if v, _, err := f.svc.Start(ctx, num, ""); err != nil || v.SendAttempts != 2 {
		t.Fatalf("resend: %+v %v", v, err)
	}
	replay, err := f.store.Start(ctx, p)
	if err != nil || !replay.Created || replay.Verification.SendAttempts != 2 {
		t.Fatalf("replay: %+v %v", replay, err)
	}
	if err := f.store.Rollback(ctx, tag, replay); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Get(ctx, id); err != nil || got.SendAttempts != 2 || got.Status != otp.StatusPending {
		t.Fatalf("after rollback of the replay: %+v %v", got, err)
	}
}

// The id is the sealed code's nonce, so a new verification may not reuse an
// archived one's id.
func TestStartRefusesArchivedID(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, _, _ := f.svc.Start(ctx, num, "")
	f.svc.Cancel(ctx, first.ID)
	f.clock.Advance(testPolicy.TTL)
	second, _, _ := f.svc.Start(ctx, num, "")
	f.svc.Cancel(ctx, second.ID)
	f.clock.Advance(testPolicy.TTL)
	_, err := f.store.Start(ctx, f.startParams(first.ID, num))
	if !errors.Is(err, otp.ErrCollision) {
		t.Fatalf("start with an archived id: %v", err)
	}
	if got, _ := f.svc.Get(ctx, second.ID); got.Status != otp.StatusCanceled {
		t.Fatalf("current verification after the refusal: %+v", got)
	}
}

// A send attempt that comes too late kills the code, as a check would.
func TestLateClaimKillsTheCode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, _ := f.svc.Start(ctx, num, "")
	tag, _ := otp.TagOfID(v.ID)
	f.clock.Advance(testPolicy.TTL)
	claim, err := f.store.ClaimSend(ctx, tag, v.ID, 1, time.Minute)
	if err != nil || claim.Outcome != otp.ClaimSkip || claim.Reason != "expired" {
		t.Fatalf("late claim: %+v %v", claim, err)
	}
	if left := f.rdb.HMGet(ctx, "otp:{"+tag+"}", "h", "e").Val(); left[0] != nil || left[1] != nil {
		t.Fatalf("code material after a late claim: %q", left)
	}
}

// Ten sends spread over a day still fit the compact encoding, and the
// rolling cap still counts them to the millisecond.
func TestSendLogStaysCompact(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.SendCap = otp.Window{Count: 10, Period: 24 * time.Hour}
	})
	tag := f.codec.Tag(num)
	first := f.clock.Now()
	for i := 0; i < 10; i++ {
		v, _, err := f.svc.Start(ctx, num, "")
		if err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		f.svc.Cancel(ctx, v.ID)
		f.clock.Advance(2*time.Hour + 17*time.Minute + 123*time.Millisecond)
	}
	if enc := f.rdb.ObjectEncoding(ctx, "otp:{"+tag+"}").Val(); enc != "listpack" {
		log := f.rdb.HGet(ctx, "otp:{"+tag+"}", "s").Val()
		t.Fatalf("encoding %s with a send log of %d bytes: %q", enc, len(log), log)
	}
	_, _, err := f.svc.Start(ctx, num, "")
	if limitReason(err) != otp.LimitToCap {
		t.Fatalf("11th send in the day: %v", err)
	}
	if got, want := retryAfter(err), first.Add(24*time.Hour).Sub(f.clock.Now()); got != want {
		t.Fatalf("RetryAfter %v, want %v", got, want)
	}
}

// English, most verifications' locale, is not stored: without its 8 bytes
// the hash fits the allocator's next smaller size (296 -> 264 B in make
// bench). It reads
// back as English, in the api and in the worker's claim; so does a hash
// with lo=en (as builds before wrote), and a resend back to English drops
// the field a resend in German set. k and l are still written at 0 (older
// builds cannot read them absent) but read as 0 when absent, so that a
// later release can leave them out.
func TestDefaultFieldsLeftOut(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.WithLocales(enDe{})
	v, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := otp.TagOfID(v.ID)
	key := "otp:{" + tag + "}"
	stored := func() map[string]string { return f.rdb.HGetAll(ctx, key).Val() }
	if val, ok := stored()["lo"]; ok {
		t.Errorf("lo = %q stored for English", val)
	}
	if v.Locale != "en" || v.CheckAttempts != 0 || !v.LastSendAt.Equal(v.CreatedAt) {
		t.Fatalf("defaults read back as %+v", v)
	}
	c, err := f.store.ClaimSend(ctx, tag, v.ID, 1, 10*time.Second)
	if err != nil || c.Locale != "en" {
		t.Fatalf("claim locale %q: %v", c.Locale, err)
	}

	// lo=en as builds before wrote it, and k and l left out as a later
	// release may, read alike.
	f.rdb.HSet(ctx, key, "lo", "en")
	f.rdb.HDel(ctx, key, "k", "l")
	if got, err := f.svc.Get(ctx, v.ID); err != nil || got.Locale != "en" || got.CheckAttempts != 0 || !got.LastSendAt.Equal(v.CreatedAt) {
		t.Fatalf("explicit lo, absent k and l: %+v %v", got, err)
	}
	f.rdb.HDel(ctx, key, "lo")

	// A wrong code and a resend in German store their fields; a resend in
	// English drops lo again.
	if _, ok, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong(f.code(t, v))}); ok || err != nil {
		t.Fatalf("wrong code: %v %v", ok, err)
	}
	f.clock.Advance(testPolicy.Cooldown)
	de, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Locale: "de"})
	if err != nil || de.Locale != "de" || stored()["lo"] != "de" || stored()["k"] != "1" || stored()["l"] == "" {
		t.Fatalf("resend in German: %+v %v, stored %v", de, err, stored())
	}
	f.clock.Advance(testPolicy.Cooldown)
	en, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Locale: "en"})
	if _, ok := stored()["lo"]; err != nil || en.Locale != "en" || ok || en.CheckAttempts != 1 {
		t.Fatalf("resend in English: %+v %v, stored %v", en, err, stored())
	}
	if c, err := f.store.ClaimSend(ctx, tag, v.ID, 3, 10*time.Second); err != nil || c.Locale != "en" {
		t.Fatalf("claim after the resend in English: %q %v", c.Locale, err)
	}
}

// enDe is a catalog of English and German, English for every region.
type enDe struct{}

func (enDe) Match(tag string) (string, bool) { return tag, tag == "en" || tag == "de" }
func (enDe) ForRegion(string) string         { return "en" }

// A resend that fails to enqueue (the client gets 503) leaves the
// message's language as it was, whether it asked for another one or for
// English (which is stored as no field).
func TestFailedResendKeepsTheLocale(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ first, resend string }{{"de", "en"}, {"en", "de"}} {
		t.Run(tc.first+" then "+tc.resend, func(t *testing.T) {
			f := newFixture(t)
			f.svc.WithLocales(enDe{})
			v, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Locale: tc.first})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(testPolicy.Cooldown)
			f.queue.fail.Store(true)
			if _, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Locale: tc.resend}); !errors.Is(err, otp.ErrUnavailable) {
				t.Fatalf("failed resend: %v", err)
			}
			got, err := f.svc.Get(ctx, v.ID)
			if err != nil || got.Locale != tc.first || got.SendAttempts != 1 {
				t.Fatalf("after the failed resend: %+v %v", got, err)
			}
			tag, _ := otp.TagOfID(v.ID)
			if c, err := f.store.ClaimSend(ctx, tag, v.ID, 1, 10*time.Second); err != nil || c.Locale != tc.first {
				t.Fatalf("claim: %q %v", c.Locale, err)
			}
		})
	}
}
