package otp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
)

// The rolling cap counts sends to a number across its verifications: a
// client that cancels and restarts (or lets codes expire) hits it all the same.
func TestRollingSendCap(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) {
		p.SendCap = otp.Window{Count: 3, Period: time.Hour}
		p.Cooldown = time.Second
	})
	start := f.Clock.Now()
	for i := 0; i < 3; i++ {
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
		if err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		if i%2 == 0 {
			f.Svc.Cancel(ctx, v.ID) // cancel-and-restart
		}
		f.Clock.Advance(time.Minute)
	}
	_, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if otptest.LimitReason(err) != otp.LimitToCap {
		t.Fatalf("4th send in the window: %v", err)
	}
	// The oldest send leaves the window an hour after it happened.
	if got, want := otptest.RetryAfter(err), start.Add(time.Hour).Sub(f.Clock.Now()); got != want {
		t.Fatalf("RetryAfter %v, want %v", got, want)
	}
	f.Clock.Advance(otptest.RetryAfter(err))
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
		t.Fatalf("send after the window moved: %v", err)
	}
	// Other numbers are not affected.
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550000"}); err != nil {
		t.Fatal(err)
	}
}

// A refused or rolled-back send does not count against the cap.
func TestRollingSendCapCountsOnlySends(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, func(p *otp.Policy) { p.SendCap = otp.Window{Count: 2, Period: time.Hour} })
	f.Queue.Fail.Store(true)
	for i := 0; i < 5; i++ {
		f.Svc.Start(ctx, otp.StartRequest{To: num})
	}
	f.Queue.Fail.Store(false)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
		t.Fatalf("first real send: %v", err)
	}
	f.Svc.Start(ctx, otp.StartRequest{To: num}) // cooldown refusal: not a send
	f.Clock.Advance(testPolicy.Cooldown)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
		t.Fatalf("second real send: %v", err)
	}
	f.Clock.Advance(testPolicy.Cooldown)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); otptest.LimitReason(err) != otp.LimitToCap {
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
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
		if err != nil {
			t.Fatalf("round %d send: %v", round, err)
		}
		code := f.Code(t, v)
		for failures < 7 {
			got, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: otptest.Wrong(code)})
			if err != nil {
				break // max checks of this verification
			}
			failures++
			if got.Status == otp.StatusMaxAttempts {
				break
			}
		}
		lockedAt = f.Clock.Now()
		f.Clock.Advance(time.Minute) // this verification expires
	}
	_, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if otptest.LimitReason(err) != otp.LimitFailedChecks {
		t.Fatalf("send after %d failures: %v", failures, err)
	}
	if got, want := otptest.RetryAfter(err), 24*time.Hour-f.Clock.Now().Sub(lockedAt)-time.Duration(0); got > 24*time.Hour || got < want-3*time.Minute {
		t.Fatalf("RetryAfter %v", got)
	}
	// The window runs from the last failure; past it the number is free.
	f.Clock.Advance(otptest.RetryAfter(err))
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatalf("send after the window: %v", err)
	}
	// A right code clears the count.
	code := f.Code(t, v)
	f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: otptest.Wrong(code)})
	if _, ok, err := f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: code}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	tag := f.Codec.Tag(num)
	if f.RDB.HExists(ctx, "otp:{"+tag+"}", "f").Val() {
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
	v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
	code := f.Code(t, v)
	f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: otptest.Wrong(code)})
	f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: otptest.Wrong(code)})
	for _, req := range []otp.CheckRequest{{To: num, Code: code}, {ID: v.ID, Code: code}} {
		if _, _, err := f.Svc.Check(ctx, req); otptest.LimitReason(err) != otp.LimitFailedChecks {
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
	v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
	code := f.Code(t, v)
	answered, approved := 0, 0
	perWindow := map[string]int{}
	for i := 0; i < 1000; i++ {
		if i%7 == 0 {
			f.Clock.Advance(time.Second)
			f.Svc.Start(ctx, otp.StartRequest{To: num}) // resend (or a refusal): must not add guesses
		}
		guess := fmt.Sprintf("%06d", i)
		if guess == code {
			guess = fmt.Sprintf("%06d", 999999-i)
		}
		got, ok, err := f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: guess})
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
		f.Clock.Advance(testPolicy.TTL)
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
		if err != nil {
			t.Fatalf("window %d: %v (after %d failures)", w, err, total)
		}
		code := f.Code(t, v)
		for i := 0; i < 5; i++ {
			if _, _, err := f.Svc.Check(ctx, otp.CheckRequest{To: num, Code: otptest.Wrong(code)}); err == nil {
				total++
			}
		}
	}
	f.Clock.Advance(testPolicy.TTL)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); otptest.LimitReason(err) != otp.LimitFailedChecks {
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
		_, _, err := f.Svc.Start(ctx, otp.StartRequest{To: tc.to})
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
		if got, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err == nil {
			v = got
		}
		_, _, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: otptest.Wrong(f.Code(t, v))})
		if err == nil {
			failedAt = append(failedAt, f.Clock.Now())
		}
		return err
	}
	if err := fail(); err != nil { // the first, at t=0
		t.Fatal(err)
	}
	f.Clock.Advance(59 * time.Minute)
	for i := 0; i < 30; i++ { // around the old window's edge at t=60m
		fail()
		f.Clock.Advance(10 * time.Second)
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
