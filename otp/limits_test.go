package otp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/ratelimit"
	"github.com/otpd/otpd/otp"
)

func fixtureWith(t *testing.T, mod func(*otp.Policy)) *fixture {
	t.Helper()
	f := newFixture(t)
	p := testPolicy
	mod(&p)
	f.svc = otp.NewService(f.codec, f.store, f.queue, p, discardLogger())
	return f
}

func retryAfter(err error) time.Duration {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.RetryAfter
	}
	return -1
}

// The rolling cap counts sends to a number across its verifications: a
// client that cancels and restarts (or lets codes expire) hits it all the same.
func TestRollingSendCap(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.SendCap = otp.Window{Count: 3, Period: time.Hour}
		p.Cooldown = time.Second
	})
	start := f.clock.Now()
	for i := 0; i < 3; i++ {
		v, _, err := f.svc.Start(ctx, num, "")
		if err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		if i%2 == 0 {
			f.svc.Cancel(ctx, v.ID) // cancel-and-restart
		}
		f.clock.Advance(time.Minute)
	}
	_, _, err := f.svc.Start(ctx, num, "")
	if limitReason(err) != otp.LimitToCap {
		t.Fatalf("4th send in the window: %v", err)
	}
	// The oldest send leaves the window an hour after it happened.
	if got, want := retryAfter(err), start.Add(time.Hour).Sub(f.clock.Now()); got != want {
		t.Fatalf("RetryAfter %v, want %v", got, want)
	}
	f.clock.Advance(retryAfter(err))
	if _, _, err := f.svc.Start(ctx, num, ""); err != nil {
		t.Fatalf("send after the window moved: %v", err)
	}
	// Other numbers are not affected.
	if _, _, err := f.svc.Start(ctx, "+14155550000", ""); err != nil {
		t.Fatal(err)
	}
}

// A refused or rolled-back send does not count against the cap.
func TestRollingSendCapCountsOnlySends(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) { p.SendCap = otp.Window{Count: 2, Period: time.Hour} })
	f.queue.fail.Store(true)
	for i := 0; i < 5; i++ {
		f.svc.Start(ctx, num, "")
	}
	f.queue.fail.Store(false)
	if _, _, err := f.svc.Start(ctx, num, ""); err != nil {
		t.Fatalf("first real send: %v", err)
	}
	f.svc.Start(ctx, num, "") // cooldown refusal: not a send
	f.clock.Advance(testPolicy.Cooldown)
	if _, _, err := f.svc.Start(ctx, num, ""); err != nil {
		t.Fatalf("second real send: %v", err)
	}
	f.clock.Advance(testPolicy.Cooldown)
	if _, _, err := f.svc.Start(ctx, num, ""); limitReason(err) != otp.LimitToCap {
		t.Fatalf("third: %v", err)
	}
}

// NIST SP 800-63B: at most N consecutive failed checks per number, across
// verifications; new codes don't reset the count, a right code does.
func TestFailedCheckLock(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.FailureLock = otp.Window{Count: 7, Period: 24 * time.Hour}
		p.MaxChecks = 3
		p.TTL = time.Minute
		p.Cooldown = 0
	})
	failures := 0
	var lockedAt time.Time
	for round := 0; failures < 7; round++ {
		v, _, err := f.svc.Start(ctx, num, "")
		if err != nil {
			t.Fatalf("round %d send: %v", round, err)
		}
		code := f.code(t, v)
		for failures < 7 {
			got, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong(code)})
			if err != nil {
				break // max checks of this verification
			}
			failures++
			if got.Status == otp.StatusMaxAttempts {
				break
			}
		}
		lockedAt = f.clock.Now()
		f.clock.Advance(time.Minute) // this verification expires
	}
	_, _, err := f.svc.Start(ctx, num, "")
	if limitReason(err) != otp.LimitFailedChecks {
		t.Fatalf("send after %d failures: %v", failures, err)
	}
	if got, want := retryAfter(err), 24*time.Hour-f.clock.Now().Sub(lockedAt)-time.Duration(0); got > 24*time.Hour || got < want-3*time.Minute {
		t.Fatalf("RetryAfter %v", got)
	}
	// The window runs from the last failure; past it the number is free.
	f.clock.Advance(retryAfter(err))
	v, _, err := f.svc.Start(ctx, num, "")
	if err != nil {
		t.Fatalf("send after the window: %v", err)
	}
	// A right code clears the count.
	code := f.code(t, v)
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
	if _, ok, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: code}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	tag := f.codec.Tag(num)
	if f.rdb.HExists(ctx, "otp:{"+tag+"}", "f").Val() {
		t.Fatal("a right code did not clear the failure count")
	}
}

// The lock also refuses checks of a verification that is still pending.
func TestFailedCheckLockRefusesChecks(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.FailureLock = otp.Window{Count: 2, Period: time.Hour}
		p.MaxChecks = 5
	})
	v, _, _ := f.svc.Start(ctx, num, "")
	code := f.code(t, v)
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
	f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)})
	for _, req := range []otp.CheckRequest{{To: num, Code: code}, {ID: v.ID, Code: code}} {
		if _, _, err := f.svc.Check(ctx, req); limitReason(err) != otp.LimitFailedChecks {
			t.Fatalf("check while locked: %v", err)
		}
	}
}

// 1,000 guesses with resends in between never approve, and within one
// TTL window never exceed max checks (a resend does not add guesses).
func TestBruteForce(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.MaxChecks = 5
		p.MaxSends = 5
		p.Cooldown = time.Second
		p.FailureLock = otp.Window{Count: 100, Period: 24 * time.Hour}
	})
	v, _, _ := f.svc.Start(ctx, num, "")
	code := f.code(t, v)
	answered, approved := 0, 0
	perWindow := map[string]int{}
	for i := 0; i < 1000; i++ {
		if i%7 == 0 {
			f.clock.Advance(time.Second)
			f.svc.Start(ctx, num, "") // resend (or a refusal): must not add guesses
		}
		guess := fmt.Sprintf("%06d", i)
		if guess == code {
			guess = fmt.Sprintf("%06d", 999999-i)
		}
		got, ok, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: guess})
		if ok {
			approved++
		}
		if err == nil {
			answered++
			perWindow[got.ID]++
		}
	}
	if approved != 0 {
		t.Fatal("a wrong guess approved")
	}
	for id, n := range perWindow {
		if n > 5 {
			t.Fatalf("verification %s answered %d guesses, max checks is 5", id, n)
		}
	}
	if answered > 5 {
		t.Fatalf("%d guesses answered within one TTL window; max checks × sends would allow %d, a resend none more", answered, 5)
	}
	// Over many windows the 100-failure rule locks the number.
	total := answered
	for w := 0; total < 100; w++ {
		f.clock.Advance(testPolicy.TTL)
		v, _, err := f.svc.Start(ctx, num, "")
		if err != nil {
			t.Fatalf("window %d: %v (after %d failures)", w, err, total)
		}
		code := f.code(t, v)
		for i := 0; i < 5; i++ {
			if _, _, err := f.svc.Check(ctx, otp.CheckRequest{To: num, Code: wrong(code)}); err == nil {
				total++
			}
		}
	}
	f.clock.Advance(testPolicy.TTL)
	if _, _, err := f.svc.Start(ctx, num, ""); limitReason(err) != otp.LimitFailedChecks {
		t.Fatalf("after %d failures the number is not locked: %v", total, err)
	}
}

func TestGeoAndMobileRules(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.AllowedCountries = map[string]bool{"US": true, "GB": true}
		p.RejectNonMobile = true
	})
	for _, tc := range []struct {
		to   string
		want error
	}{
		{"+14155552671", nil},                        // US: fixed-line-or-mobile
		{"+447400123456", nil},                       // GB mobile
		{"+447911123456", otp.ErrCountryNotAllowed},  // Guernsey: +44, not GB
		{"+442079460958", otp.ErrNotMobile},          // GB landline
		{"+4915123456789", otp.ErrCountryNotAllowed}, // DE
		{"+16135550123", otp.ErrCountryNotAllowed},   // CA shares +1 but is another country
	} {
		_, _, err := f.svc.Start(ctx, tc.to, "")
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tc.to, err, tc.want)
		}
	}
}

func TestNormalizeIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		" 203.0.113.7 ":        "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
	} {
		if got, err := otp.NormalizeIP(in); err != nil || got != want {
			t.Errorf("NormalizeIP(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1.2.3", "256.1.1.1", "fe80::1%eth0", "example.com", "1.2.3.4/24"} {
		if _, err := otp.NormalizeIP(bad); !errors.Is(err, otp.ErrInvalidInput) {
			t.Errorf("NormalizeIP(%q) accepted", bad)
		}
	}
}

// The cross-number limits share a round trip with the send script; when
// they refuse, the send that went through with them is undone.
func TestGuardRefusalUndoesTheSend(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) { p.SendCap = otp.Window{Count: 5, Period: time.Hour} })
	f.svc.WithGuard(ratelimit.New(f.rdb, ratelimit.Config{APIKeySends: []ratelimit.Rate{{Count: 1, Period: time.Hour}}}))
	key := otp.Origin{APIKeyID: "k"}
	if _, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Origin: key}); err != nil {
		t.Fatal(err)
	}
	other := "+14155550000"
	_, _, err := f.svc.Send(ctx, otp.SendRequest{To: other, Origin: key})
	if limitReason(err) != otp.LimitAPIKey {
		t.Fatalf("second send: %v", err)
	}
	if _, _, err := f.svc.Check(ctx, otp.CheckRequest{To: other, Code: "123456"}); !errors.Is(err, otp.ErrNotFound) {
		t.Fatalf("the refused send left a verification: %v", err)
	}
	tag := f.codec.Tag(other)
	if log := f.rdb.HGet(ctx, "otp:{"+tag+"}", "s").Val(); log != "" {
		t.Fatalf("the refused send counts against the number's cap: %q", log)
	}
	if len(f.queue.jobs) != 1 {
		t.Fatalf("%d jobs queued", len(f.queue.jobs))
	}
}

// A send refused by the per-number rules sends nothing, so it gives back
// what it took from shared budgets: one user's cooldown refusals must not
// lock out the neighbouring numbers of its range.
func TestRefusedSendRefundsSharedBudgets(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.WithGuard(ratelimit.New(f.rdb, ratelimit.Config{PrefixSends: []ratelimit.Rate{{Count: 2, Period: 10 * time.Minute}}}))
	if _, _, err := f.svc.Start(ctx, "+14155552671", ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := f.svc.Start(ctx, "+14155552671", ""); limitReason(err) != otp.LimitCooldown {
			t.Fatalf("resend %d: %v", i, err)
		}
	}
	if _, _, err := f.svc.Start(ctx, "+14155552999", ""); err != nil {
		t.Fatalf("the neighbour was locked out by refusals that sent nothing: %v", err)
	}
	if _, _, err := f.svc.Start(ctx, "+14155552998", ""); limitReason(err) != otp.LimitPrefix {
		t.Fatalf("third real send in the range: %v", err)
	}
}

// "N wrong codes per period" is at most N in any period: the count lives
// until a whole period passes without a failure. A window that began at
// the first failure let N-1 before its end and N more right after it.
func TestFailureLockHasNoWindowEdge(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.FailureLock = otp.Window{Count: 10, Period: time.Hour}
		p.MaxChecks = 100
		p.TTL = 10 * time.Minute
		p.Cooldown = 0
	})
	var failedAt []time.Time
	var v otp.Verification
	fail := func() error {
		// A pending verification to guess at: new, or a resend of the
		// pending one (refused once its sends are used up).
		if got, _, err := f.svc.Start(ctx, num, ""); err == nil {
			v = got
		}
		_, _, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: wrong(f.code(t, v))})
		if err == nil {
			failedAt = append(failedAt, f.clock.Now())
		}
		return err
	}
	if err := fail(); err != nil { // the first, at t=0
		t.Fatal(err)
	}
	f.clock.Advance(59 * time.Minute)
	for i := 0; i < 30; i++ { // around the old window's edge at t=60m
		fail()
		f.clock.Advance(10 * time.Second)
	}
	for i, at := range failedAt {
		n := 0
		for _, b := range failedAt[:i+1] {
			if at.Sub(b) < time.Hour {
				n++
			}
		}
		if n > 10 {
			t.Fatalf("%d wrong codes evaluated within an hour, limit 10", n)
		}
	}
	if len(failedAt) != 10 {
		t.Fatalf("%d wrong codes evaluated, want exactly 10", len(failedAt))
	}
}
