package tasks_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	if addr := os.Getenv(deadWorkerEnv); addr != "" {
		runDeadWorker(addr)
		return
	}
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}

const num = "+14155552671"

type fixture struct {
	*otptest.Fixture
	fake    *twiliofake.Server
	handler asynq.Handler
	insp    *asynq.Inspector
}

// policy is the fixture's: SMS, Acme's messages, Twilio's reports to
// otp.example.
var policy = otp.Policy{
	TTL: 10 * time.Minute, Retention: time.Hour, Cooldown: 30 * time.Second, MaxSends: 5, MaxChecks: 5,
	DefaultRegion: "US", Brand: "Acme", StatusCallback: "https://otp.example" + api.StatusCallbackPath,
}

func newFixture(t testing.TB) *fixture { return fixtureWith(t, policy, twilio.Config{}, app.Options{}) }

// fixtureWith is the service of p, built with o, sending through Twilio
// (the fake) with sender's senders (none: an SMS number).
func fixtureWith(t testing.TB, p otp.Policy, sender twilio.Config, o app.Options) *fixture {
	t.Helper()
	fake := twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	t.Cleanup(fake.Close)
	sender.AccountSID, sender.AuthToken, sender.APIURL, sender.Timeout = stacktest.AccountSID, stacktest.AuthToken, fake.URL, 2*time.Second
	if sender.From == "" {
		sender.From = stacktest.From
	}
	var err error
	if o.Sender, err = twilio.New(sender); err != nil {
		t.Fatal(err)
	}
	o.Policy = p
	f := &fixture{Fixture: otptest.New(t, redisServer, o), fake: fake}
	f.insp = asynq.NewInspectorFromRedisClient(f.RDB)
	f.handler = tasks.NewMux(f.Svc)
	return f
}

// next pops the oldest pending task, as the worker would.
func (f *fixture) tasks(t *testing.T) []*asynq.Task {
	t.Helper()
	infos, err := f.insp.ListPendingTasks(tasks.QueueName)
	if err != nil {
		t.Fatal(err)
	}
	var out []*asynq.Task
	for _, i := range infos {
		out = append(out, asynq.NewTask(i.Type, i.Payload))
	}
	return out
}

func (f *fixture) delivery(t *testing.T, id string) otp.Delivery {
	v, err := f.Svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Delivery
}

func TestSendDeliversTheCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	ts := f.tasks(t)
	if len(ts) != 1 {
		t.Fatalf("%d tasks", len(ts))
	}
	if err := f.handler.ProcessTask(ctx, ts[0]); err != nil {
		t.Fatal(err)
	}
	reqs := f.fake.Accepted()
	if len(reqs) != 1 || reqs[0].Form.Get("To") != num || reqs[0].Form.Get("From") != "+15005550006" {
		t.Fatalf("requests %+v", reqs)
	}
	code := twiliofake.CodeIn(reqs[0].Form.Get("Body"))
	if _, valid, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); !valid || err != nil {
		t.Fatalf("code from SMS did not approve: %v", err)
	}
	d := f.delivery(t, v.ID)
	if d.Status != otp.DeliverySending || d.MessageSID != reqs[0].SID {
		t.Fatalf("delivery %+v", d)
	}
	if cb := reqs[0].Form.Get("StatusCallback"); cb != "https://otp.example/v1/webhooks/twilio/status?a=1&v="+v.ID {
		t.Fatalf("StatusCallback %q", cb)
	}
	// A re-run of the same task (asynq is at-least-once) sends nothing.
	if err := f.handler.ProcessTask(ctx, ts[0]); err != nil || len(f.fake.Requests()) != 1 {
		t.Fatalf("re-run: %v, %d requests", err, len(f.fake.Requests()))
	}
	// The payload names the attempt, never the code.
	if strings.Contains(string(ts[0].Payload()), code) {
		t.Fatal("payload contains the code")
	}
}

func TestSendSkips(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		reason string // recorded on the attempt; "" when nothing is left to record on
		setup  func(t *testing.T, f *fixture, v otp.Verification)
	}{
		{"canceled", "canceled", func(t *testing.T, f *fixture, v otp.Verification) { f.Svc.Cancel(ctx, v.ID) }},
		{"expired", "expired", func(t *testing.T, f *fixture, v otp.Verification) { f.Clock.Advance(11 * time.Minute) }},
		{"approved", "approved", func(t *testing.T, f *fixture, v otp.Verification) {
			f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: f.Code(t, v)})
		}},
		{"superseded by a resend", "superseded", func(t *testing.T, f *fixture, v otp.Verification) {
			f.Clock.Advance(time.Minute)
			f.Svc.Start(ctx, otp.StartRequest{To: num})
		}},
		{"gone", "", func(t *testing.T, f *fixture, v otp.Verification) { f.RDB.FlushAll(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
			first := f.tasks(t)[0]
			tc.setup(t, f, v)
			if err := f.handler.ProcessTask(ctx, first); err != nil {
				t.Fatalf("skip must not fail the task: %v", err)
			}
			if n := len(f.fake.Requests()); n != 0 {
				t.Fatalf("%d requests reached Twilio", n)
			}
			if tc.reason != "" {
				got, _ := f.Svc.Get(ctx, v.ID)
				if a := got.Attempts[0]; a.Status != otp.DeliveryFailed || a.Reason != tc.reason {
					t.Fatalf("attempt 1: %+v", a)
				}
			}
		})
	}
}

func TestSendFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("permanent error is recorded and not retried", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		f.fake.Script(twiliofake.Response{Status: 400, Code: 21211})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("want SkipRetry, got %v", err)
		}
		wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryFailed, ErrorCode: 21211, Reason: "twilio_error"})
	})
	t.Run("transient error is retried", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		f.fake.Script(twiliofake.Response{Status: 503, Code: 20503, RetryAfter: "7"})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("want retryable error, got %v", err)
		}
		if d := tasks.RetryDelay(0, err, nil); d != 8*time.Second {
			t.Fatalf("Retry-After not honoured: %v", d)
		}
		wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryQueued, ErrorCode: 20503, Reason: "retrying"})
		// Twilio answered, so nothing was sent: the retry sends at once.
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil || len(f.fake.Accepted()) != 1 {
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("no answer keeps the claim until it is stale", func(t *testing.T) {
		f := newFixture(t)
		f.Svc.Start(ctx, otp.StartRequest{To: num})
		task := f.tasks(t)[0]
		hold := make(chan struct{})
		f.fake.Script(twiliofake.Response{Hold: hold})
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := f.handler.ProcessTask(tctx, task) // the request times out: did Twilio take it?
		cancel()
		close(hold)
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("want retryable error, got %v", err)
		}
		var de *otp.WaitError
		err = f.handler.ProcessTask(ctx, task)
		if !errors.As(err, &de) || de.Wait != 15*time.Second {
			t.Fatalf("re-run within the HTTP timeout must wait: %v", err)
		}
		if tasks.IsFailure(err) {
			t.Fatal("a deferral counted as a failure")
		}
		f.Clock.Advance(16 * time.Second)
		if err := f.handler.ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if n := len(f.fake.Accepted()); n != 2 {
			t.Fatalf("%d accepted: at most one duplicate, and here exactly one", n)
		}
	})
	t.Run("less than a second of validity: nothing reaches Twilio", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		f.Clock.Advance(10*time.Minute - 999*time.Millisecond)
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
			t.Fatalf("want a quiet end, got %v", err)
		}
		if n := len(f.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached Twilio with under 1s left", n)
		}
		wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryFailed, Reason: "expired"})
	})
	t.Run("validity period is whole seconds, at least 1", func(t *testing.T) {
		f := newFixture(t)
		f.Svc.Start(ctx, otp.StartRequest{To: num})
		f.Clock.Advance(10*time.Minute - 1500*time.Millisecond)
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
			t.Fatal(err)
		}
		if got := f.fake.Accepted()[0].Form.Get("ValidityPeriod"); got != "1" {
			t.Fatalf("ValidityPeriod %q, want 1", got)
		}
	})
	t.Run("failure too close to expiry ends the task quietly", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
		f.Clock.Advance(10*time.Minute - 1500*time.Millisecond)
		f.fake.Script(twiliofake.Response{Status: 500, Code: 20500})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if !errors.Is(err, asynq.RevokeTask) {
			t.Fatalf("want RevokeTask, got %v", err)
		}
		wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryFailed, ErrorCode: 20500, Reason: "expired"})
	})
	t.Run("bad payload", func(t *testing.T) {
		f := newFixture(t)
		for _, p := range []string{"", "{}", `{"id":"VE1","attempt":1}`, `{"id":"VE0123456789abcdef0123456789abcdef","attempt":0}`, "[]"} {
			if err := f.handler.ProcessTask(ctx, asynq.NewTask(tasks.TypeDeliver, []byte(p))); !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("payload %q: %v", p, err)
			}
		}
	})
}

func TestGlobalRateLimitDefers(t *testing.T) {
	ctx := context.Background()
	f := fixtureWith(t, policy, twilio.Config{}, app.Options{SMSRateLimit: 1})
	f.Svc.Start(ctx, otp.StartRequest{To: num})
	// Another worker used this second's budget: the try waits, before it
	// claims anything or calls Twilio.
	if _, err := redis_rate.NewLimiter(f.RDB).Allow(ctx, "otp:sms", redis_rate.PerSecond(1)); err != nil {
		t.Fatal(err)
	}
	err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
	var de *otp.WaitError
	if !errors.As(err, &de) || de.Wait <= 0 || de.Wait > time.Second || tasks.IsFailure(err) {
		t.Fatalf("want a deferral within 1s, got %v", err)
	}
	if d := tasks.RetryDelay(3, err, nil); d != de.Wait {
		t.Fatalf("RetryDelay ignores the limiter's wait: %v", d)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached Twilio", n)
	}
}

func TestRetryDelay(t *testing.T) {
	for n := 0; n < 30; n++ {
		base := min(time.Second<<min(n, 5), 30*time.Second)
		for i := 0; i < 50; i++ {
			d := tasks.RetryDelay(n, errors.New("x"), nil)
			if d < base*3/4 || d >= base*5/4 {
				t.Fatalf("n=%d: %v outside [%v, %v)", n, d, base*3/4, base*5/4)
			}
		}
	}
}

// A run may last as long as the code lives, as a timeout: asynq would
// judge a deadline by the worker's clock, which may be ahead of Redis's.
func TestNewDeliveryTask(t *testing.T) {
	task, opts, err := tasks.NewDeliveryTask(otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 2, ValidFor: 5 * time.Minute}, "", tasks.QueueName)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tasks.ParseDeliveryPayload(task.Payload())
	if err != nil || p.Attempt != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	got := map[asynq.OptionType]any{}
	for _, o := range opts {
		got[o.Type()] = o.Value()
	}
	if got[asynq.TimeoutOpt] != 5*time.Minute+5*time.Second || got[asynq.DeadlineOpt] != nil ||
		got[asynq.TaskIDOpt] != "VE0123456789abcdef0123456789abcdef:2" || got[asynq.QueueOpt] != tasks.QueueName {
		t.Fatalf("options %v", got)
	}
}

func TestEnqueueIsIdempotent(t *testing.T) {
	f := newFixture(t)
	job := otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1, ValidFor: time.Minute}
	for i := 0; i < 3; i++ {
		if err := f.Parts.Queue.EnqueueDelivery(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tasks(t)); n != 1 {
		t.Fatalf("%d tasks for one attempt", n)
	}
}

func BenchmarkTaskEncoding(b *testing.B) {
	job := otp.DeliveryJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1, ValidFor: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tasks.NewDeliveryTask(job, "", tasks.QueueName); err != nil {
			b.Fatal(err)
		}
	}
}

// Whoever can write to Redis but lacks OTP_SECRET must not be able to
// redirect a code: a number that does not carry the id's keyed tag is
// refused, logged, counted and not retried.
func TestRefusesARedirectedNumber(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := fixtureWith(t, policy, twilio.Config{}, app.Options{Metrics: reg})
	ctx := context.Background()
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := otp.TagOfID(v.ID)
	if err := f.RDB.HSet(ctx, "otp:{"+tag+"}", "to", "+14155550000").Err(); err != nil {
		t.Fatal(err)
	}
	err = f.handler.ProcessTask(ctx, f.tasks(t)[0])
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("want SkipRetry, got %v", err)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached Twilio", n)
	}
	wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryFailed, Reason: "integrity_error"})
	if got := counter(t, reg, "otp_sms_sends_total", "integrity_error"); got != 1 {
		t.Fatalf("otp_sms_sends_total{outcome=integrity_error} = %v", got)
	}
}

// counter reads the counter of one outcome from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{outcome=%q}", name, outcome)
	return 0
}

// A worker whose host clock is an hour off still sends with the code's
// real time left: the claim measures it on the Redis clock.
func TestWorkerClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		f := newFixture(t)
		ctx := context.Background()
		// The store on the Redis server's clock, the worker's host an hour off.
		parts, err := app.Build(f.RDB, app.Options{Policy: policy, Secret: []byte(otptest.Secret), CodeLength: 6,
			Sender: f.Deps.Sender})
		if err != nil {
			t.Fatal(err)
		}
		defer parts.Asynq.Close()
		d := parts.Deps
		d.Now = func() time.Time { return time.Now().Add(skew) }
		svc := otp.NewService(policy, d)
		if _, _, err := svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
			t.Fatal(err)
		}
		if err := tasks.NewMux(svc).ProcessTask(ctx, f.tasks(t)[0]); err != nil {
			t.Fatalf("skew %v: %v", skew, err)
		}
		got := f.fake.Accepted()[0].Form.Get("ValidityPeriod")
		if n, _ := strconv.Atoi(got); n < 595 || n > 600 {
			t.Fatalf("skew %v: ValidityPeriod %s, want about 600", skew, got)
		}
	}
}

// A message Twilio accepted but already reports failed keeps its code.
func TestAcceptedButFailedKeepsItsErrorCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num})
	f.fake.Script(twiliofake.Response{Code: 30007})
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
		t.Fatal(err)
	}
	if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.ErrorCode != 30007 || d.MessageSID == "" {
		t.Fatalf("delivery %+v", d)
	}
}

// channelFixture is the fixture with every channel enabled, the built-in
// texts, and a sender that has a WhatsApp number (and, with content, an
// approved WhatsApp template).
func channelFixture(t *testing.T, content string) *fixture {
	t.Helper()
	p := policy
	p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true}
	p.VoiceAllowedCountries = map[string]bool{"US": true, "FR": true}
	p.Brands = map[string]bool{"Acme": true, "Globex": true}
	p.Cooldown = 0
	return fixtureWith(t, p, twilio.Config{WhatsAppFrom: "+14155238886", WhatsAppContentSID: content}, app.Options{})
}

// Each channel goes out the way Twilio wants it, in the verification's
// language, with the one code of the verification.
func TestEachChannelGoesOut(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "")
	var v otp.Verification
	for _, r := range []otp.StartRequest{
		{To: "+33612345678", Channel: "sms", AppHash: "FA+9qCX9VSu"},
		{To: "+33612345678", Channel: "whatsapp"},
		{To: "+33612345678", Channel: "call"},
	} {
		var err error
		if v, _, err = f.Svc.Start(ctx, r); err != nil {
			t.Fatalf("%s: %v", r.Channel, err)
		}
		ts := f.tasks(t)
		if err := f.handler.ProcessTask(ctx, ts[len(ts)-1]); err != nil {
			t.Fatal(err)
		}
	}
	code := f.Code(t, v)
	msgs, calls := f.fake.Messages(), f.fake.Calls()
	if len(msgs) != 2 || len(calls) != 1 {
		t.Fatalf("%d messages, %d calls", len(msgs), len(calls))
	}
	sms, wa, call := msgs[0].Form, msgs[1].Form, calls[0].Form
	if sms.Get("To") != "+33612345678" || sms.Get("Body") != "Votre code de vérification Acme est : "+code+"\n\nFA+9qCX9VSu" {
		t.Errorf("sms %v", sms)
	}
	if wa.Get("To") != "whatsapp:+33612345678" || wa.Get("From") != "whatsapp:+14155238886" ||
		wa.Get("Body") != "Votre code de vérification Acme est : "+code || wa.Get("StatusCallback") == "" {
		t.Errorf("whatsapp %v", wa)
	}
	says := twiliofake.SpokenIn(call.Get("Twiml"))
	if call.Get("To") != "+33612345678" || call.Get("From") != "+15005550006" || len(says) != 2 ||
		says[0].Language != "fr-FR" || says[0].Voice != "Google.fr-FR-Standard-F" || !strings.Contains(call.Get("Twiml"), `<prosody rate="slow">`) || twiliofake.CodeIn(says[1].Text) != code {
		t.Errorf("call %v: %+v", call, says)
	}
	if call.Get("TimeLimit") != "60" || call.Get("Timeout") != "30" || len(call["StatusCallbackEvent"]) != 4 {
		t.Errorf("call limits and events: %v", call)
	}
	got, _ := f.Svc.Get(ctx, v.ID)
	for i, want := range []string{"sms", "whatsapp", "call"} {
		a := got.Attempts[i]
		if a.Channel != want || a.Status != otp.DeliverySending || a.MessageSID == "" {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if !strings.HasPrefix(got.Attempts[2].MessageSID, "CA") {
		t.Errorf("the call's sid: %q", got.Attempts[2].MessageSID)
	}
}

// With an approved WhatsApp template the code is its variable, not a body.
func TestWhatsAppContentTemplate(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "HX0123456789abcdef0123456789abcdef")
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: "whatsapp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
		t.Fatal(err)
	}
	form := f.fake.Messages()[0].Form
	if form.Get("ContentSid") != "HX0123456789abcdef0123456789abcdef" || form.Get("Body") != "" ||
		form.Get("ContentVariables") != `{"1":"`+f.Code(t, v)+`"}` {
		t.Fatalf("%v", form)
	}
}

// The worker checks again what Redis says about an attempt: a channel that
// is not enabled, or a call to a country outside VOICE_ALLOWED_COUNTRIES
// (an SMS attempt rewritten into a call to a premium number), never goes
// out; a brand key it does not know, or a malformed app hash, never
// reaches a message.
func TestWorkerDoesNotTrustRedis(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		to      string
		set     map[string]string // number hash fields written behind the api's back
		attempt string            // rewritten attempt record, "" to keep
		reason  string            // the attempt's reason; "" sent
		check   func(t *testing.T, f *fixture)
	}{
		{name: "a call to a country calls may not go to", to: "+447400123456", attempt: "0||0|q|0|0||c|", reason: "country_not_allowed"},
		{name: "a channel not enabled", to: num, attempt: "0||0|q|0|0||x|", reason: "channel_disabled"},
		{name: "an unknown brand key", to: num, set: map[string]string{"b": "deadbeef"}, check: func(t *testing.T, f *fixture) {
			if body := f.fake.Messages()[0].Form.Get("Body"); !strings.HasPrefix(body, "Your Acme verification code") {
				t.Fatalf("body %q", body)
			}
		}},
		{name: "a listed brand", to: num, set: map[string]string{"b": otp.BrandKey("Globex")}, check: func(t *testing.T, f *fixture) {
			if body := f.fake.Messages()[0].Form.Get("Body"); !strings.HasPrefix(body, "Your Globex verification code") {
				t.Fatalf("body %q", body)
			}
		}},
		{name: "a malformed app hash", to: num, set: map[string]string{"ah": "\n\nhttps://evil.example"}, check: func(t *testing.T, f *fixture) {
			if body := f.fake.Messages()[0].Form.Get("Body"); strings.Contains(body, "evil") {
				t.Fatalf("body %q", body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := channelFixture(t, "")
			v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := otp.TagOfID(v.ID)
			key := "otp:{" + tag + "}"
			for k, val := range tc.set {
				f.RDB.HSet(ctx, key, k, val)
			}
			if tc.attempt != "" {
				f.RDB.HSet(ctx, key, "a1", tc.attempt)
			}
			if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
				t.Fatal(err)
			}
			if tc.reason != "" {
				if n := len(f.fake.Requests()); n != 0 {
					t.Fatalf("%d requests reached Twilio", n)
				}
				raw, _ := f.RDB.HGet(ctx, key, "a1").Result()
				if !strings.Contains(raw, "|f|") || !strings.Contains(raw, "|"+tc.reason) {
					t.Fatalf("attempt %q, want failed with %s", raw, tc.reason)
				}
				return
			}
			tc.check(t, f)
		})
	}
}

// A call needs a minute of the code's life left: ringing, speech, typing.
func TestCallNeedsAMinute(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "")
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: "call"})
	if err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(9*time.Minute + 1*time.Second)
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("a call was placed with 59s left")
	}
	wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliveryFailed, Reason: "expired"})
}

// A permanent Twilio error ends a workflow step at once: the next step's
// attempt is queued on its channel, with the same code.
func TestPermanentErrorMovesTheWorkflow(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "")
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Workflow: []string{"sms", "call"}})
	if err != nil {
		t.Fatal(err)
	}
	f.fake.Script(twiliofake.Response{Status: 400, Code: 21610})
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("want SkipRetry, got %v", err)
	}
	got, _ := f.Svc.Get(ctx, v.ID)
	if got.SendAttempts != 2 || got.Attempts[1].Channel != "call" || got.Workflow.Steps[0].Status != otp.StepFailed ||
		got.Workflow.Steps[0].Reason != "twilio_error:21610" || got.Workflow.Steps[1].Status != otp.StepStarted {
		t.Fatalf("%+v %+v", got.Attempts, got.Workflow.Steps)
	}
	ts := f.tasks(t)
	if err := f.handler.ProcessTask(ctx, ts[len(ts)-1]); err != nil {
		t.Fatal(err)
	}
	if calls := f.fake.Calls(); len(calls) != 1 || twiliofake.CodeIn(twiliofake.SpokenIn(calls[0].Form.Get("Twiml"))[0].Text) != f.Code(t, v) {
		t.Fatalf("calls %v", calls)
	}
}

// A delivery is queued as otp:deliver; one queued by an api from before
// the rename, as otp:send_sms, is delivered all the same during a rolling
// upgrade.
func TestDeliveryTaskNames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	queued := f.tasks(t)[0]
	if queued.Type() != "otp:deliver" || !tasks.IsDelivery("otp:send_sms") || tasks.IsDelivery(tasks.TypeExpire) {
		t.Fatalf("task type %q", queued.Type())
	}
	if err := f.handler.ProcessTask(ctx, asynq.NewTask("otp:send_sms", queued.Payload())); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Accepted()); n != 1 {
		t.Fatalf("%d messages accepted", n)
	}
	wantDelivery(t, f.delivery(t, v.ID), otp.Delivery{Status: otp.DeliverySending})
}

// A fraud block's end is scheduled when the block is made, and the worker
// reports it once its time is up by the store's clock, not before.
func TestFraudBlockEndTask(t *testing.T) {
	ctx := context.Background()
	p := policy
	p.Fraud = otp.FraudOn
	guard := redisstore.GuardConfig{Window: time.Hour, Grace: time.Minute, MinSends: 1, CountryMinSends: 100,
		MinConversion: 0.5, BlockTTL: time.Hour}
	f := fixtureWith(t, p, twilio.Config{}, app.Options{Guard: &guard})
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155552001"}); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(3 * time.Minute)
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+14155552002"}); otptest.LimitReason(err) != otp.LimitFraud {
		t.Fatalf("not blocked: %v", err)
	}
	scheduled, err := f.insp.ListScheduledTasks(tasks.QueueName)
	if err != nil {
		t.Fatal(err)
	}
	var end *asynq.Task
	for _, info := range scheduled {
		if info.Type == tasks.TypeBlockEnd {
			end = asynq.NewTask(info.Type, info.Payload)
			if want := f.Clock.Now().Add(time.Hour + time.Second); !info.NextProcessAt.Equal(want) {
				t.Fatalf("runs at %v, want %v", info.NextProcessAt, want)
			}
		}
	}
	if end == nil {
		t.Fatalf("no block end scheduled: %v", scheduled)
	}
	var wait *otp.WaitError
	if err := f.handler.ProcessTask(ctx, end); !errors.As(err, &wait) {
		t.Fatalf("before its end: %v", err)
	}
	f.Clock.Advance(time.Hour)
	if err := f.handler.ProcessTask(ctx, end); err != nil {
		t.Fatal(err)
	}
	if bs, err := f.Svc.FraudBlocks(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("blocks %v %v", bs, err)
	}
	if err := f.handler.ProcessTask(ctx, asynq.NewTask(tasks.TypeBlockEnd, []byte(`{"name":"x"}`))); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("a bad payload: %v", err)
	}
}

// FuzzParseDeliveryPayload: whatever a queue holds, its payload parses to a
// delivery the service can look up, or to an error; never a panic.
func FuzzParseDeliveryPayload(f *testing.F) {
	for _, s := range []string{`{"id":"VE0123456789abcdef0123456789abcdef","attempt":1}`,
		`{"id":"VE0123456789abcdef0123456789abcdef","attempt":1,"channel":"call"}`, `{}`, `[]`, `{"attempt":-1}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tasks.ParseDeliveryPayload(b)
		if err != nil {
			return
		}
		if _, ok := otp.TagOfID(p.ID); !ok || p.Attempt < 1 || (p.Channel != "" && !otp.KnownChannel(p.Channel)) {
			t.Fatalf("%q parsed to %+v", b, p)
		}
	})
}

// FuzzParseBlockEndPayload: a block's end parses to a name the service can
// look up and an end, or to an error; never a panic.
func FuzzParseBlockEndPayload(f *testing.F) {
	for _, s := range []string{`{"name":"+14155552","until":1}`, `{"name":"US","until":1}`, `{"name":"+","until":1}`,
		`{"name":"USA","until":1}`, `{"name":"US","until":0}`, `{}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tasks.ParseBlockEndPayload(b)
		if err != nil {
			return
		}
		if name, err := otp.ParseBlockName(p.Name); err != nil || name != strings.ToUpper(p.Name) || p.Until <= 0 {
			t.Fatalf("%q parsed to %+v", b, p)
		}
	})
}

// wantDelivery compares a verification's latest delivery with want, but
// for its channel, Twilio's words and sid and its time.
func wantDelivery(t *testing.T, got, want otp.Delivery) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(otp.Delivery{}, "Channel", "RawStatus", "MessageSID", "UpdatedAt")); diff != "" {
		t.Fatalf("delivery (-want +got):\n%s", diff)
	}
}

// BenchmarkDeliver is the worker's part of a signup: one send attempt
// claimed, its code opened, its message written and handed to Twilio (the
// fake, answering at once), the result recorded.
func BenchmarkDeliver(b *testing.B) {
	benchDeliver(b, fixtureWith(b, policy, twilio.Config{}, app.Options{}))
}

// benchDeliver runs b.N deliveries through f's handler, the starts and
// their tasks made before the clock starts.
func benchDeliver(b *testing.B, f *fixture) {
	ctx := context.Background()
	ts := make([]*asynq.Task, b.N)
	for i := range ts {
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+1415" + strconv.Itoa(2000000+i)})
		if err != nil {
			b.Fatal(err)
		}
		if ts[i], _, err = tasks.NewDeliveryTask(otp.DeliveryJob{ID: v.ID, Attempt: 1, ValidFor: time.Minute}, "", tasks.QueueName); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, task := range ts {
		if err := f.handler.ProcessTask(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
}
