package e2e

import (
	"context"
	"net/url"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/tasks"
)

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	for _, tc := range []struct {
		name     string
		resp     twiliofake.Response
		minDelay time.Duration
	}{
		{"429 with Retry-After", twiliofake.Response{Status: 429, Code: 20429, RetryAfter: "2"}, 2 * time.Second},
		// asynq schedules retries in whole seconds, so the 1s backoff may
		// run at once: only the retry itself is asserted.
		{"429 without Retry-After", twiliofake.Response{Status: 429, Code: 20429}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, nil)
			s.Fake.Script(tc.resp)
			v := s.start(t, client.StartRequest{To: "+14155552671"})
			reqs := waitSMS(t, s.Fake, 2)
			if gap := reqs[1].At.Sub(reqs[0].At); gap < tc.minDelay {
				t.Fatalf("retried after %v, want at least %v", gap, tc.minDelay)
			}
			s.waitDelivery(t, v.ID, "sending")
			if n := len(s.Fake.Accepted()); n != 1 {
				t.Fatalf("%d messages accepted", n)
			}
		})
	}
}

func TestTwilioDownLongerThanTTL(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := startStack(t, map[string]string{"OTP_TTL": "5s"})
	down := make([]twiliofake.Response, 200)
	for i := range down {
		down[i] = twiliofake.Response{Status: 503, Code: 20503}
	}
	s.Fake.Script(down...)
	v := s.start(t, client.StartRequest{To: "+14155552671"})
	expires := v.ExpiresAt
	d := s.waitDelivery(t, v.ID, "failed")
	if d.Reason != "expired" {
		t.Fatalf("delivery %+v", d)
	}
	time.Sleep(time.Until(expires) + 3*time.Second) // and a few retry periods after
	reqs := s.Fake.Requests()
	if len(reqs) < 3 {
		t.Fatalf("only %d tries in the code's life", len(reqs))
	}
	for _, r := range reqs {
		if !r.At.Before(expires) {
			t.Fatalf("a request reached Twilio %v after the code expired", r.At.Sub(expires))
		}
	}
	t.Logf("%d tries before expiry; last %v before it", len(reqs), expires.Sub(reqs[len(reqs)-1].At))
}

func TestSIGTERMWithRequestInFlight(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := startStack(t, nil)
	hold := make(chan struct{})
	s.Fake.Script(twiliofake.Response{Hold: hold})
	v := s.start(t, client.StartRequest{To: "+14155552671"})
	waitInFlight(t, s.Fake)
	s.Worker.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond) // the worker is draining, the request still held
	close(hold)
	err, exited := s.Worker.Wait(25 * time.Second)
	if !exited {
		t.Fatal("worker did not exit")
	}
	if err != nil {
		t.Fatalf("worker exit: %v\n%s", err, s.Worker.Output())
	}
	s.waitDelivery(t, v.ID, "sending")
	// A fresh worker finds nothing left to send.
	s.Worker = s.Run(t, "worker", s.Env)
	time.Sleep(2 * time.Second)
	if n := len(s.Fake.Requests()); n != 1 {
		t.Fatalf("%d requests, want exactly one", n)
	}
}

// SIGKILL while Twilio holds the request: Twilio got the message but the
// worker never learned it. The restarted worker's rescuer finds the task
// that no live worker lists and enqueues a copy, which takes the dead run's
// claim over: one duplicate at most, and the number has its code, without
// waiting for asynq's lease recovery.
func TestSIGKILLRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the killed worker's heartbeat to lapse (about 10 s)")
	}
	t.Parallel() // it waits; the others run meanwhile
	sigkillRecovery(t)
}

// BenchmarkSIGKILLRecovery measures what TestSIGKILLRecovery checks: the
// time from a worker's SIGKILL, mid-request, to the code's second SMS,
// with one worker restarted at once. Each run takes one to two minutes:
// go test -run '^$' -bench SIGKILLRecovery -benchtime 3x ./internal/suites/e2e
func BenchmarkSIGKILLRecovery(b *testing.B) {
	var total time.Duration
	for range b.N {
		total += sigkillRecovery(b)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-SMS")
}

// sigkillRecovery kills a worker while Twilio holds its request, starts
// another, and answers how long after the kill the code went out again.
func sigkillRecovery(t testing.TB) time.Duration {
	s := startStack(t, map[string]string{"TWILIO_TIMEOUT": "3s"})
	hold := make(chan struct{})
	s.Fake.Script(twiliofake.Response{Hold: hold})
	v := s.start(t, client.StartRequest{To: "+14155552671"})
	waitInFlight(t, s.Fake)
	s.Worker.Kill()
	killed := time.Now()
	close(hold) // the fake "sends" the first SMS; nobody hears the answer

	s.Worker = s.Run(t, "worker", s.Env)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	reqs, err := s.Fake.WaitRequests(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	s.waitDelivery(t, v.ID, "sending")
	time.Sleep(2 * time.Second)
	if n := len(s.Fake.Accepted()); n != 2 {
		t.Fatalf("%d messages accepted; want the lost one and one resend", n)
	}
	if twiliofake.CodeIn(reqs[0].Form.Get("Body")) != twiliofake.CodeIn(reqs[1].Form.Get("Body")) {
		t.Fatal("the resend carries another code")
	}
	// The rescuer's copy sent it, not asynq's own recovery a minute on.
	rdb := s.Redis.Client()
	defer rdb.Close()
	if _, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(tasks.QueueName, v.ID+":1~r"); err != nil {
		t.Fatalf("no rescue task: %v", err)
	}
	return reqs[1].At.Sub(killed)
}

func TestStatusCallbacks(t *testing.T) {
	s := startStack(t, map[string]string{"PUBLIC_URL": ""})
	id := s.start(t, client.StartRequest{To: "+14155552671"}).ID
	msg := waitSMS(t, s.Fake, 1)[0]
	cb, err := url.Parse(msg.Form.Get("StatusCallback"))
	if err != nil || cb.Path != "/v1/webhooks/twilio/status" || cb.Query().Get("v") != id || cb.Query().Get("a") != "1" {
		t.Fatalf("StatusCallback %q", msg.Form.Get("StatusCallback"))
	}
	s.waitDelivery(t, id, "sending")
	ctx := context.Background()

	// Out of order: delivered arrives before sent; sent must not win.
	for _, st := range []string{"delivered", "sent", "sending"} {
		if code, err := s.Fake.StatusCallback(ctx, msg, st, 0); err != nil || code != 204 {
			t.Fatalf("callback %s: %d %v", st, code, err)
		}
	}
	d := s.waitDelivery(t, id, "delivered")
	if d.MessageSID != msg.SID {
		t.Fatalf("delivery %+v", d)
	}

	// Forged or unsigned callbacks change nothing.
	form := url.Values{"MessageSid": {msg.SID}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}
	for name, sig := range map[string]string{
		"wrong token":  twiliofake.Sign("not-the-token", cb.String(), form),
		"other url":    twiliofake.Sign(s.Fake.AuthToken, s.Base+"/v1/webhooks/twilio/status?v="+id+"&a=2", form),
		"no signature": "",
		"garbage":      "abc",
	} {
		req := map[string]string{"X-Twilio-Signature": sig}
		if code := postForm(t, cb.String(), form, req); code != 403 {
			t.Fatalf("%s: %d, want 403", name, code)
		}
	}
	if got := s.get(t, id); got.Delivery.Status != "delivered" {
		t.Fatalf("a forged callback changed the delivery: %+v", got.Delivery)
	}
}

func TestStatusCallbackFailedCarriesErrorCode(t *testing.T) {
	s := startStack(t, map[string]string{"PUBLIC_URL": ""})
	id := s.start(t, client.StartRequest{To: "+14155552671"}).ID
	msg := waitSMS(t, s.Fake, 1)[0]
	s.waitDelivery(t, id, "sending")
	if code, err := s.Fake.StatusCallback(context.Background(), msg, "undelivered", 30003); err != nil || code != 204 {
		t.Fatalf("%d %v", code, err)
	}
	if d := s.waitDelivery(t, id, "undelivered"); d.ErrorCode != 30003 {
		t.Fatalf("delivery %+v", d)
	}
	attempts := s.get(t, id).Attempts
	if len(attempts) != 1 || attempts[0].MessageSID != msg.SID {
		t.Fatalf("attempts %+v", attempts)
	}
}

// Two workers share one budget of SMS_RATE_LIMIT messages per second.
func TestGlobalRateLimitAcrossWorkers(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	const rate, n = 5, 20
	s := startStack(t, map[string]string{"SMS_RATE_LIMIT": "5"})
	s.Run(t, "worker", s.Env) // a second worker
	for i := 0; i < n; i++ {
		to := "+1415555" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"
		if v, err := s.client.Start(t.Context(), client.StartRequest{To: to}); err != nil {
			t.Fatalf("send %d: %v %+v", i, err, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqs, err := s.Fake.WaitRequests(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	times := make([]time.Time, len(reqs))
	for i, r := range reqs {
		times[i] = r.At
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	worst := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		worst = max(worst, j-i)
	}
	span := times[len(times)-1].Sub(times[0])
	t.Logf("%d SMS in %v; at most %d in any one-second window", n, span.Round(time.Millisecond), worst)
	// Burst 1: at most rate+1 land in a window that straddles two slots.
	if worst > rate+1 {
		t.Fatalf("%d SMS in one second with SMS_RATE_LIMIT=%d", worst, rate)
	}
	if span < time.Duration(n-rate-1)*time.Second/rate {
		t.Fatalf("%d SMS in %v is faster than %d/s", n, span, rate)
	}
}

func waitInFlight(t testing.TB, fake *twiliofake.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fake.InFlight() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request reached the fake")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
