package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

var e2eWebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("e2e-webhook-secret-0123456789abcd"))

// hook is a customer's backend: it records the events it gets, answering
// each with the next scripted status (200 after them), or never while hang
// is set.
type hook struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	hang    chan struct{}
	got     []received
}

type received struct {
	header http.Header
	body   []byte
	event  struct {
		Type string
		Data struct {
			Verification map[string]any
			Attempt      int
			Step         int
			Block        map[string]any // fraud events
			Reason       string
		}
	}
}

func newHook(t testing.TB, answers ...int) *hook {
	h := &hook{answers: answers}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		if h.hang != nil {
			ch := h.hang
			h.mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
			}
			return
		}
		rec := received{header: r.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &rec.event)
		h.got = append(h.got, rec)
		status := 200
		if len(h.answers) > 0 {
			status, h.answers = h.answers[0], h.answers[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

// wait returns the deliveries of an event type once n have arrived.
func (h *hook) wait(t testing.TB, typ string, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h.mu.Lock()
		var out []received
		for _, r := range h.got {
			if r.event.Type == typ {
				out = append(out, r)
			}
		}
		h.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s events after %v", len(out), n, typ, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workflowStack runs api and worker with every channel, status callbacks,
// a 15s channel timeout and events to h.
func workflowStack(t testing.TB, h *hook) *stack {
	t.Helper()
	env := map[string]string{
		"CHANNELS": "sms,whatsapp,call", "TWILIO_WHATSAPP_FROM": "+14155238886", "VOICE_ALLOWED_COUNTRIES": "US",
		"PUBLIC_URL": "", "OTP_CHANNEL_TIMEOUT": "15s",
	}
	if h != nil {
		env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = h.URL, e2eWebhookSecret
	}
	return startStack(t, env)
}

func (s *stack) startWorkflow(t testing.TB, to string, channels ...client.Channel) string {
	t.Helper()
	return s.start(t, client.StartRequest{To: to, Workflow: channels}).ID
}

// steps is a verification's workflow steps; it ends the test when the
// verification has fewer than n.
func steps(t testing.TB, v client.Verification, n int) []client.WorkflowStep {
	t.Helper()
	if v.Workflow == nil || len(v.Workflow.Steps) < n {
		t.Fatalf("workflow %+v, want %d steps", v.Workflow, n)
	}
	return v.Workflow.Steps
}

// The SMS is refused for good (an unsubscribed number): the call starts
// within 2 seconds.
func TestWorkflowPermanentErrorCalls(t *testing.T) {
	s := workflowStack(t, nil)
	const to = "+14155552671"
	s.Fake.Script(twiliofake.Response{Status: 400, Code: 21610})
	calls := s.Fake.Expect(to)
	start := time.Now()
	s.startWorkflow(t, to, client.ChannelSMS, client.ChannelCall)
	// Expect fires on accepted requests only: the refused SMS does not count.
	var call twiliofake.Request
	select {
	case call = <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no call")
	}
	if call.Kind != twiliofake.KindCall || len(s.Fake.Requests()) != 2 || s.Fake.Requests()[0].Status != 400 {
		t.Fatalf("requests %+v", s.Fake.Requests())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the call started %v after the refusal", took)
	}
}

// The SMS was accepted, then a signed callback says undelivered: WhatsApp
// starts at once.
func TestWorkflowUndeliveredGoesToWhatsApp(t *testing.T) {
	s := workflowStack(t, nil)
	const to = "+14155552671"
	sms := await(t, s, to, func() { s.startWorkflow(t, to, client.ChannelSMS, client.ChannelWhatsApp) })
	ctx := context.Background()
	wa := await(t, s, "whatsapp:"+to, func() {
		if code, err := s.Fake.StatusCallback(ctx, sms, "undelivered", 30003); err != nil || code != 204 {
			t.Fatalf("callback: %d %v", code, err)
		}
	})
	if twiliofake.CodeIn(wa.Form.Get("Body")) != twiliofake.CodeIn(sms.Form.Get("Body")) {
		t.Fatal("WhatsApp carried another code")
	}
}

// No news within the channel timeout (15s): the next step starts; the
// verification shows the first as timed out.
func TestWorkflowTimeout(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := workflowStack(t, nil)
	const to = "+14155552671"
	var id string
	await(t, s, to, func() { id = s.startWorkflow(t, to, client.ChannelSMS, client.ChannelWhatsApp) })
	start := time.Now()
	ch := s.Fake.Expect("whatsapp:" + to)
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no second step")
	}
	if took := time.Since(start); took < 13*time.Second || took > 25*time.Second {
		t.Fatalf("the second step started after %v, want about 15s", took)
	}
	st := steps(t, s.get(t, id), 2)
	if st[0].Status != "timed_out" || st[1].Status != "started" {
		t.Fatalf("steps %+v", st)
	}
}

// Approved during step 1: step 2 never starts, even though the worker that
// held its timeout is killed and another takes over.
func TestWorkflowApprovalStopsIt(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := workflowStack(t, nil)
	const to = "+14155552671"
	var id string
	sms := await(t, s, to, func() { id = s.startWorkflow(t, to, client.ChannelSMS, client.ChannelCall) })
	if v, err := s.client.Check(t.Context(), client.CheckRequest{ID: id, Code: twiliofake.CodeIn(sms.Form.Get("Body"))}); err != nil || !v.Valid {
		t.Fatalf("check: %v %+v", err, v)
	}
	s.Worker.Signal(syscall.SIGKILL)
	s.Worker.Wait(5 * time.Second)
	s.Worker = s.Run(t, "worker", s.Env)
	time.Sleep(20 * time.Second) // past the 15s channel timeout
	if n := len(s.Fake.Calls()); n != 0 {
		t.Fatalf("%d calls after approval", n)
	}
	st := steps(t, s.get(t, id), 2)
	if st[0].Status != "approved" || st[1].Status != "pending" {
		t.Fatalf("steps %+v", st)
	}
}

// A receiver that answers 500 twice gets the event on the third try, with
// the same webhook-id, signed so that a Standard Webhooks verifier accepts it.
func TestWebhookRetries(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	h := newHook(t, 500, 500)
	s := workflowStack(t, h)
	const to = "+14155552671"
	v := s.start(t, client.StartRequest{To: to})
	if _, err := s.client.Cancel(t.Context(), v.ID); err != nil {
		t.Fatal(err)
	}
	got := h.wait(t, "verification.canceled", 3, 30*time.Second)
	verifier, _ := standardwebhooks.NewWebhook(e2eWebhookSecret)
	for i, r := range got {
		if r.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
			t.Fatalf("try %d has another webhook-id", i+1)
		}
		if err := verifier.Verify(r.body, r.header); err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	if got[2].event.Data.Verification["status"] != "canceled" {
		t.Fatalf("event %s", got[2].body)
	}
}

// A receiver that hangs does not delay sends: events have workers of their
// own.
func TestHangingWebhookDoesNotDelaySends(t *testing.T) {
	h := newHook(t)
	h.hang = make(chan struct{})
	defer close(h.hang)
	s := workflowStack(t, h)
	// Fill the event workers: every cancel is an event the receiver holds.
	for i := 0; i < 30; i++ {
		to := "+1415555060" + string(rune('0'+i%10))
		if i >= 10 {
			to = "+1415555061" + string(rune('0'+i%10))
			if i >= 20 {
				to = "+1415555062" + string(rune('0'+i%10))
			}
		}
		// A refused start or cancel is no failure here (as before the
		// client); a request without an answer is.
		v, err := s.client.Start(t.Context(), client.StartRequest{To: to})
		if refusal(t, err) == nil {
			_, err = s.client.Cancel(t.Context(), v.ID)
			refusal(t, err)
		}
	}
	time.Sleep(time.Second)
	start := time.Now()
	await(t, s, "+14155552671", func() {
		if v, err := s.client.Start(t.Context(), client.StartRequest{To: "+14155552671"}); err != nil {
			t.Fatal(err, v)
		}
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the SMS took %v with a hanging receiver", took)
	}
}
