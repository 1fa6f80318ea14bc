package otp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// events records the events a service emits.
type events struct {
	mu    sync.Mutex
	list  []otp.Event
	exp   []string
	calls int // Emit calls, repeats included
}

// Emit keeps an event once per id, as the asynq queue does by TaskID.
func (e *events) Emit(_ context.Context, ev otp.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	for _, old := range e.list {
		if old.ID == ev.ID {
			return nil
		}
	}
	e.list = append(e.list, ev)
	return nil
}

func (e *events) ScheduleExpiry(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	e.exp = append(e.exp, id)
	e.mu.Unlock()
	return nil
}

func (e *events) types() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.list {
		out = append(out, ev.Type)
	}
	return out
}

var allChannels = map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true}

// workflowFixture has every channel enabled and records events.
func workflowFixture(t *testing.T, mod func(*otp.Policy), limits redisstore.LimitConfig) (*fixture, *events) {
	t.Helper()
	p := testPolicy
	p.Channels = allChannels
	p.MaxSends = 5
	if mod != nil {
		mod(&p)
	}
	f := &fixture{otptest.New(t, redisServer, app.Options{Policy: p, Limits: limits}, otptest.RecordOnly)}
	ev := &events{}
	f.Svc = f.With(p, func(d *otp.Deps) { d.Events = ev })
	return f, ev
}

func steps(v otp.Verification) []string {
	var out []string
	for _, s := range v.Workflow.Steps {
		out = append(out, s.Channel+":"+string(s.Status))
	}
	return out
}

func sameSteps(t *testing.T, v otp.Verification, want ...string) {
	t.Helper()
	got := steps(v)
	if len(got) != len(want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("steps %v, want %v", got, want)
		}
	}
}

func (f *fixture) get(t *testing.T, id string) otp.Verification {
	t.Helper()
	v, err := f.Svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A workflow moves on, one step at a time and at most once per step: on a
// failure report, on a step's timeout, and never after the verification
// ended. Every step sends the same code.
func TestWorkflowMovesOn(t *testing.T) {
	ctx := context.Background()
	f, ev := workflowFixture(t, nil, redisstore.LimitConfig{})
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "whatsapp", "call"}, ChannelTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	code := f.Code(t, v)
	if v.Workflow == nil || v.Workflow.ChannelTimeout != 20 {
		t.Fatalf("workflow %+v", v.Workflow)
	}
	sameSteps(t, v, "sms:started", "whatsapp:pending", "call:pending")
	if len(f.Queue.Steps()) != 1 || f.Queue.Steps()[0] != v.ID+":1" {
		t.Fatalf("scheduled %v", f.Queue.Steps())
	}

	// The SMS failed for good: WhatsApp starts at once, whatever the cooldown.
	f.Svc.AttemptEnded(ctx, v.ID, 1, otp.DeliveryUndelivered, "undelivered")
	got := f.get(t, v.ID)
	sameSteps(t, got, "sms:failed", "whatsapp:started", "call:pending")
	if got.SendAttempts != 2 || got.Attempts[1].Channel != "whatsapp" || got.Workflow.Steps[0].Reason != "undelivered" {
		t.Fatalf("%+v", got)
	}
	// The same news again, or the SMS step's late timeout, changes nothing.
	f.Svc.AttemptEnded(ctx, v.ID, 1, otp.DeliveryFailed, "failed")
	if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, v.ID); got.SendAttempts != 2 {
		t.Fatalf("a duplicate trigger made attempt %d", got.SendAttempts)
	}
	// WhatsApp stays silent past its timeout: the call starts.
	if err := f.Svc.StepTimedOut(ctx, v.ID, 2); err != nil {
		t.Fatal(err)
	}
	got = f.get(t, v.ID)
	sameSteps(t, got, "sms:failed", "whatsapp:timed_out", "call:started")
	if len(f.Queue.Jobs()) != 3 || f.Queue.Jobs()[2].Channel != "call" || f.Queue.Jobs()[2].Attempt != 3 {
		t.Fatalf("jobs %+v", f.Queue.Jobs())
	}
	if f.Code(t, got) != code {
		t.Fatal("the code changed between steps")
	}
	// Approved during the call: the call is the step that converted, and
	// the call's timeout does nothing.
	if _, ok, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := f.Svc.StepTimedOut(ctx, v.ID, 3); err != nil {
		t.Fatal(err)
	}
	got = f.get(t, v.ID)
	sameSteps(t, got, "sms:failed", "whatsapp:timed_out", "call:approved")
	if got.SendAttempts != 3 {
		t.Fatalf("%d attempts", got.SendAttempts)
	}
	want := []string{"workflow.step_started", "delivery.failed", "workflow.step_started", "workflow.step_started", "verification.approved"}
	if got := ev.types(); len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i, typ := range ev.types() {
		if typ != want[i] {
			t.Fatalf("events %v, want %v", ev.types(), want)
		}
	}
	if len(ev.exp) != 1 {
		t.Fatalf("expiry scheduled %v", ev.exp)
	}
}

// A step its channel's limits refuse is skipped with the limit's name, and
// the next one is tried; so is one past OTP_MAX_SENDS. With no step left the
// workflow is done.
func TestWorkflowSkips(t *testing.T) {
	ctx := context.Background()
	f, _ := workflowFixture(t, func(p *otp.Policy) { p.MaxSends = 3 }, redisstore.LimitConfig{CallBudgetPerMinute: 1})
	// Someone else's call spent the call budget.
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550123", Channel: "call"}); err != nil {
		t.Fatal(err)
	}
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "call", "whatsapp", "sms"}})
	if err != nil {
		t.Fatal(err)
	}
	f.Svc.AttemptEnded(ctx, v.ID, 1, otp.DeliveryFailed, "twilio_error:21610")
	got := f.get(t, v.ID)
	sameSteps(t, got, "sms:failed", "call:skipped", "whatsapp:started", "sms:pending")
	if got.Workflow.Steps[1].Reason != "call_budget" || got.SendAttempts != 2 {
		t.Fatalf("%+v", got.Workflow.Steps)
	}
	// A manual resend uses the third send; the last step has none left.
	f.Clock.Advance(testPolicy.Cooldown)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
		t.Fatal(err)
	}
	if err := f.Svc.StepTimedOut(ctx, v.ID, 3); err != nil {
		t.Fatal(err)
	}
	got = f.get(t, v.ID)
	sameSteps(t, got, "sms:failed", "call:skipped", "whatsapp:timed_out", "sms:skipped")
	if got.Workflow.Steps[3].Reason != "max_send_attempts" || got.SendAttempts != 3 {
		t.Fatalf("%+v", got.Workflow.Steps)
	}
}

// A trigger whose run died half way is finished by its retry: a step that
// started without its send queued gets it, and a skipped step whose next
// step never came leads on to it. Nothing is sent twice.
func TestWorkflowResumes(t *testing.T) {
	ctx := context.Background()
	t.Run("started, send not queued", func(t *testing.T) {
		f, _ := workflowFixture(t, nil, redisstore.LimitConfig{})
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "whatsapp"}})
		if err != nil {
			t.Fatal(err)
		}
		f.Queue.Fail.Store(true)
		if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err == nil {
			t.Fatal("a step whose send was not queued reported success")
		}
		sameSteps(t, f.get(t, v.ID), "sms:timed_out", "whatsapp:started")
		f.Queue.Fail.Store(false)
		if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err != nil {
			t.Fatal(err)
		}
		got := f.get(t, v.ID)
		sameSteps(t, got, "sms:timed_out", "whatsapp:started")
		if len(f.Queue.Jobs()) != 2 || f.Queue.Jobs()[1].Channel != "whatsapp" || f.Queue.Jobs()[1].Attempt != 2 || got.SendAttempts != 2 {
			t.Fatalf("jobs %+v, %d attempts", f.Queue.Jobs(), got.SendAttempts)
		}
		if want := []string{v.ID + ":1", v.ID + ":2"}; strings.Join(f.Queue.Steps(), " ") != strings.Join(want, " ") {
			t.Fatalf("timeouts %v, want %v", f.Queue.Steps(), want)
		}
	})
	t.Run("skipped, next step not started", func(t *testing.T) {
		f, _ := workflowFixture(t, nil, redisstore.LimitConfig{CallBudgetPerMinute: 1})
		if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550123", Channel: "call"}); err != nil {
			t.Fatal(err)
		}
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "call", "whatsapp"}})
		if err != nil {
			t.Fatal(err)
		}
		f.Queue.FailStep.Store(3)
		if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err == nil {
			t.Fatal("a run that could not schedule step 3 reported success")
		}
		sameSteps(t, f.get(t, v.ID), "sms:timed_out", "call:skipped", "whatsapp:pending")
		f.Queue.FailStep.Store(0)
		if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err != nil {
			t.Fatal(err)
		}
		got := f.get(t, v.ID)
		sameSteps(t, got, "sms:timed_out", "call:skipped", "whatsapp:started")
		if len(f.Queue.Jobs()) != 3 || got.SendAttempts != 2 { // the other number's call, and two here
			t.Fatalf("jobs %+v, %d attempts", f.Queue.Jobs(), got.SendAttempts)
		}
	})
}

// A call answered reports delivered twice (in-progress, completed), a
// WhatsApp message delivered then read: one delivery event each.
func TestDeliveryEventsOnce(t *testing.T) {
	ctx := context.Background()
	f, ev := workflowFixture(t, nil, redisstore.LimitConfig{})
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: "call"})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"in-progress", "completed", "completed"} {
		if err := f.Svc.DeliveryReport(ctx, otp.DeliveryReport{ID: v.ID, Attempt: 1, Status: otp.DeliveryDelivered,
			Channel: "call", RawStatus: raw}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ev.types(); len(got) != 1 || got[0] != otp.EventDelivered || ev.calls != 1 {
		t.Fatalf("events %v from %d emits", got, ev.calls)
	}
	if got := f.get(t, v.ID); got.Attempts[0].RawStatus != "completed" {
		t.Fatalf("the later word was not kept: %+v", got.Attempts[0])
	}
}

// Cancel, expiry and a lock stop a workflow: a later trigger finds that and
// does nothing, and GET says why the step under way stopped.
func TestWorkflowStops(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		end    func(f *fixture, v otp.Verification)
		reason string
	}{
		{"canceled", func(f *fixture, v otp.Verification) { f.Svc.Cancel(ctx, v.ID) }, "canceled"},
		{"expired", func(f *fixture, v otp.Verification) { f.Clock.Advance(testPolicy.TTL) }, "expired"},
		{"locked", func(f *fixture, v otp.Verification) {
			for i := 0; i < testPolicy.MaxChecks; i++ {
				f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: otptest.Wrong(f.Code(t, v))})
			}
		}, "max_attempts_reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := workflowFixture(t, nil, redisstore.LimitConfig{})
			v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "call"}})
			if err != nil {
				t.Fatal(err)
			}
			tc.end(f, v)
			if err := f.Svc.StepTimedOut(ctx, v.ID, 1); err != nil {
				t.Fatal(err)
			}
			got := f.get(t, v.ID)
			if got.SendAttempts != 1 || len(f.Queue.Jobs()) != 1 {
				t.Fatalf("a stopped workflow went on: %d attempts", got.SendAttempts)
			}
			sameSteps(t, got, "sms:stopped", "call:pending")
			if got.Workflow.Steps[0].Reason != tc.reason {
				t.Fatalf("reason %q", got.Workflow.Steps[0].Reason)
			}
		})
	}
}

func TestWorkflowRequests(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		mod  func(*otp.Policy)
		req  otp.StartRequest
		want string // error; "" accepted
		flow []string
	}{
		{name: "channel alone is no workflow", req: otp.StartRequest{To: num, Channel: "call"}},
		{name: "an explicit workflow of one step is one", req: otp.StartRequest{To: num, Workflow: []string{"whatsapp"}},
			flow: []string{"whatsapp:started"}},
		{name: "channelTimeout without a workflow", req: otp.StartRequest{To: num, ChannelTimeout: 30 * time.Second}, want: "needs a workflow"},
		{name: "default workflow", mod: func(p *otp.Policy) { p.Workflow = []string{"sms", "call"} }, req: otp.StartRequest{To: num},
			flow: []string{"sms:started", "call:pending"}},
		{name: "a channel overrides the default", mod: func(p *otp.Policy) { p.Workflow = []string{"sms", "call"} },
			req: otp.StartRequest{To: num, Channel: "whatsapp"}},
		{name: "five steps", req: otp.StartRequest{To: num, Workflow: []string{"sms", "sms", "sms", "sms", "sms"}}, want: "1 to 4"},
		{name: "a disabled channel", mod: func(p *otp.Policy) { p.Channels = map[string]bool{"sms": true} },
			req: otp.StartRequest{To: num, Workflow: []string{"sms", "call"}}, want: "not available"},
		{name: "channel not the first step", req: otp.StartRequest{To: num, Channel: "call", Workflow: []string{"sms", "call"}}, want: "first step"},
		{name: "timeout too short", req: otp.StartRequest{To: num, Workflow: []string{"sms", "call"}, ChannelTimeout: 14 * time.Second}, want: "15 to 900"},
		{name: "timeout too long", req: otp.StartRequest{To: num, Workflow: []string{"sms", "call"}, ChannelTimeout: 901 * time.Second}, want: "15 to 900"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := workflowFixture(t, tc.mod, redisstore.LimitConfig{})
			v, _, err := f.Svc.Start(ctx, tc.req)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want an error with %q, got %v", tc.want, err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.flow == nil && v.Workflow != nil:
				t.Fatalf("a workflow of one step: %+v", v.Workflow)
			case tc.flow != nil:
				sameSteps(t, v, tc.flow...)
			}
		})
	}
}

// The events of a verification's life, each with a stable id.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	f, ev := workflowFixture(t, func(p *otp.Policy) {
		p.FailureLock = otp.Window{Count: 2, Period: time.Hour}
		p.MaxChecks = 2
	}, redisstore.LimitConfig{})
	a, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
	f.Svc.Check(ctx, otp.CheckRequest{ID: a.ID, Code: otptest.Wrong(f.Code(t, a))})
	f.Svc.Check(ctx, otp.CheckRequest{ID: a.ID, Code: otptest.Wrong(f.Code(t, a))}) // max attempts and the lock
	b, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550123"})
	f.Svc.Cancel(ctx, b.ID)
	f.Svc.Cancel(ctx, b.ID) // a second cancel is no second event
	f.Svc.AttemptEnded(ctx, b.ID, 1, otp.DeliveryDelivered, "delivered")
	c, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: "+14155550124"})
	if ok, err := f.Svc.Expired(ctx, c.ID); ok || err != nil {
		t.Fatalf("expired before its time: %v %v", ok, err)
	}
	f.Clock.Advance(testPolicy.TTL)
	if ok, err := f.Svc.Expired(ctx, c.ID); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	want := map[string]string{
		"verification.max_attempts_reached": "evt_" + a.ID + "_verification.max_attempts_reached",
		"number.locked":                     "evt_" + a.ID + "_number.locked",
		"verification.canceled":             "evt_" + b.ID + "_verification.canceled",
		"delivery.delivered":                "evt_" + b.ID + "_delivery.delivered_a1",
		"verification.expired":              "evt_" + c.ID + "_verification.expired",
	}
	if len(ev.list) != len(want) {
		t.Fatalf("events %v", ev.types())
	}
	for _, e := range ev.list {
		if want[e.Type] != e.ID || e.Verification.ID == "" {
			t.Errorf("event %s id %q", e.Type, e.ID)
		}
	}
}
