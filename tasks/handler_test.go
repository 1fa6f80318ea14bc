package tasks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/messages"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "authtoken0123456789"
	num   = "+14155552671"
)

type fixture struct {
	svc     *otp.Service
	store   *otp.Store
	codec   *otp.Codec
	clock   *clocktest.Clock
	fake    *twiliofake.Server
	handler *tasks.SendHandler
	sender  otp.Sender
	rdb     *redis.Client
	insp    *asynq.Inspector
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb := redisServer.Client()
	ctx := context.Background()
	rdb.FlushAll(ctx)
	fake := twiliofake.Start(sid, token)
	t.Cleanup(func() { fake.Close(); rdb.Close() })
	codec, err := otp.NewCodec([]byte("tasks-test-secret-tasks-test-secret-0123"), 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006", APIURL: fake.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := clocktest.New(time.Now())
	f := &fixture{store: otp.NewStore(rdb).WithClock(clock.Now), codec: codec, fake: fake, rdb: rdb,
		clock: clock, insp: asynq.NewInspectorFromRedisClient(rdb), sender: sender}
	f.svc = otp.NewService(codec, f.store, tasks.NewQueue(asynq.NewClientFromRedisClient(rdb)), otp.Policy{
		TTL: 10 * time.Minute, Retention: time.Hour, Cooldown: 30 * time.Second, MaxSends: 5, MaxChecks: 5, DefaultRegion: "US",
	}, log)
	f.handler = tasks.NewSendHandler(f.store, codec, sender, tasks.HandlerConfig{
		Brand: "Acme", StaleClaim: 15 * time.Second,
		StatusCallback: "https://otp.example" + tasks.StatusCallbackPath,
	}, f.clock.Now, log)
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
	v, err := f.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Delivery
}

func TestSendDeliversTheCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, _, err := f.svc.Start(ctx, num, "")
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
	if _, valid, err := f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); !valid || err != nil {
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
		setup  func(f *fixture, v otp.Verification)
	}{
		{"canceled", "canceled", func(f *fixture, v otp.Verification) { f.svc.Cancel(ctx, v.ID) }},
		{"expired", "expired", func(f *fixture, v otp.Verification) { f.clock.Advance(11 * time.Minute) }},
		{"approved", "approved", func(f *fixture, v otp.Verification) {
			tag, _ := otp.TagOfID(v.ID)
			_, sealed, _ := f.store.GetWithSealed(ctx, tag, v.ID)
			code, _ := f.codec.Open(v.ID, sealed)
			f.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})
		}},
		{"superseded by a resend", "superseded", func(f *fixture, v otp.Verification) {
			f.clock.Advance(time.Minute)
			f.svc.Start(ctx, num, "")
		}},
		{"gone", "", func(f *fixture, v otp.Verification) { f.rdb.FlushAll(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			v, _, _ := f.svc.Start(ctx, num, "")
			first := f.tasks(t)[0]
			tc.setup(f, v)
			if err := f.handler.ProcessTask(ctx, first); err != nil {
				t.Fatalf("skip must not fail the task: %v", err)
			}
			if n := len(f.fake.Requests()); n != 0 {
				t.Fatalf("%d requests reached Twilio", n)
			}
			if tc.reason != "" {
				got, _ := f.svc.Get(ctx, v.ID)
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
		v, _, _ := f.svc.Start(ctx, num, "")
		f.fake.Script(twiliofake.Response{Status: 400, Code: 21211})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("want SkipRetry, got %v", err)
		}
		if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.ErrorCode != 21211 {
			t.Fatalf("delivery %+v", d)
		}
	})
	t.Run("transient error is retried", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		f.fake.Script(twiliofake.Response{Status: 503, Code: 20503, RetryAfter: "7"})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("want retryable error, got %v", err)
		}
		if d := tasks.RetryDelay(0, err, nil); d != 8*time.Second {
			t.Fatalf("Retry-After not honoured: %v", d)
		}
		if d := f.delivery(t, v.ID); d.Status != otp.DeliveryQueued || d.ErrorCode != 20503 || d.Reason != "retrying" {
			t.Fatalf("delivery %+v", d)
		}
		// Twilio answered, so nothing was sent: the retry sends at once.
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil || len(f.fake.Accepted()) != 1 {
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("no answer keeps the claim until it is stale", func(t *testing.T) {
		f := newFixture(t)
		f.svc.Start(ctx, num, "")
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
		var de *tasks.DeferError
		err = f.handler.ProcessTask(ctx, task)
		if !errors.As(err, &de) || de.Wait != 15*time.Second {
			t.Fatalf("re-run within the HTTP timeout must wait: %v", err)
		}
		if tasks.IsFailure(err) {
			t.Fatal("a deferral counted as a failure")
		}
		f.clock.Advance(16 * time.Second)
		if err := f.handler.ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if n := len(f.fake.Accepted()); n != 2 {
			t.Fatalf("%d accepted: at most one duplicate, and here exactly one", n)
		}
	})
	t.Run("less than a second of validity: nothing reaches Twilio", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		f.clock.Advance(10*time.Minute - 999*time.Millisecond)
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
			t.Fatalf("want a quiet end, got %v", err)
		}
		if n := len(f.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached Twilio with under 1s left", n)
		}
		if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.Reason != "expired" {
			t.Fatalf("delivery %+v", d)
		}
	})
	t.Run("validity period is whole seconds, at least 1", func(t *testing.T) {
		f := newFixture(t)
		f.svc.Start(ctx, num, "")
		f.clock.Advance(10*time.Minute - 1500*time.Millisecond)
		if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
			t.Fatal(err)
		}
		if got := f.fake.Accepted()[0].Form.Get("ValidityPeriod"); got != "1" {
			t.Fatalf("ValidityPeriod %q, want 1", got)
		}
	})
	t.Run("failure too close to expiry ends the task quietly", func(t *testing.T) {
		f := newFixture(t)
		v, _, _ := f.svc.Start(ctx, num, "")
		f.clock.Advance(10*time.Minute - 1500*time.Millisecond)
		f.fake.Script(twiliofake.Response{Status: 500, Code: 20500})
		err := f.handler.ProcessTask(ctx, f.tasks(t)[0])
		if !errors.Is(err, asynq.RevokeTask) {
			t.Fatalf("want RevokeTask, got %v", err)
		}
		if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.Reason != "expired" {
			t.Fatalf("delivery %+v", d)
		}
	})
	t.Run("bad payload", func(t *testing.T) {
		f := newFixture(t)
		for _, p := range []string{"", "{}", `{"id":"VE1","attempt":1}`, `{"id":"VE0123456789abcdef0123456789abcdef","attempt":0}`, "[]"} {
			if err := f.handler.ProcessTask(ctx, asynq.NewTask(tasks.TypeSendSMS, []byte(p))); !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("payload %q: %v", p, err)
			}
		}
	})
}

func TestGlobalRateLimitDefers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	h := tasks.NewSendHandler(f.store, f.codec, nil, tasks.HandlerConfig{
		Brand: "Acme", Limiter: redis_rate.NewLimiter(f.rdb), Rate: redis_rate.PerSecond(1),
	}, f.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.svc.Start(ctx, num, "")
	// Another worker used this second's budget; the handler is refused
	// before it would need a sender (it has none).
	if _, err := redis_rate.NewLimiter(f.rdb).Allow(ctx, tasks.RateLimitKey, redis_rate.PerSecond(1)); err != nil {
		t.Fatal(err)
	}
	err := h.ProcessTask(ctx, f.tasks(t)[0])
	var de *tasks.DeferError
	if !errors.As(err, &de) || de.Wait <= 0 || de.Wait > time.Second || tasks.IsFailure(err) {
		t.Fatalf("want a deferral within 1s, got %v", err)
	}
	if d := tasks.RetryDelay(3, err, nil); d != de.Wait {
		t.Fatalf("RetryDelay ignores the limiter's wait: %v", d)
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
func TestNewSendTask(t *testing.T) {
	task, opts, err := tasks.NewSendTask(otp.SendJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 2, ValidFor: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tasks.ParseSendPayload(task.Payload())
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
	q := tasks.NewQueue(asynq.NewClientFromRedisClient(f.rdb))
	job := otp.SendJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1, ValidFor: time.Minute}
	for i := 0; i < 3; i++ {
		if err := q.EnqueueSend(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tasks(t)); n != 1 {
		t.Fatalf("%d tasks for one attempt", n)
	}
}

func BenchmarkTaskEncoding(b *testing.B) {
	job := otp.SendJob{ID: "VE0123456789abcdef0123456789abcdef", Attempt: 1, ValidFor: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tasks.NewSendTask(job); err != nil {
			b.Fatal(err)
		}
	}
}

// Whoever can write to Redis but lacks OTP_SECRET must not be able to
// redirect a code: a number that does not carry the id's keyed tag is
// refused, logged, counted and not retried.
func TestRefusesARedirectedNumber(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	h := tasks.NewSendHandler(f.store, f.codec, f.sender, tasks.HandlerConfig{
		Brand: "Acme", Observer: metrics.NewSMS(reg),
	}, f.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	v, _, err := f.svc.Start(ctx, num, "")
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := otp.TagOfID(v.ID)
	if err := f.rdb.HSet(ctx, "otp:{"+tag+"}", "to", "+14155550000").Err(); err != nil {
		t.Fatal(err)
	}
	err = h.ProcessTask(ctx, f.tasks(t)[0])
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("want SkipRetry, got %v", err)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached Twilio", n)
	}
	if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.Reason != "integrity_error" {
		t.Fatalf("delivery %+v", d)
	}
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
		store := otp.NewStore(f.rdb) // the Redis server's clock
		svc := otp.NewService(f.codec, store, tasks.NewQueue(asynq.NewClientFromRedisClient(f.rdb)), otp.Policy{
			TTL: 10 * time.Minute, Retention: time.Hour, MaxSends: 5, MaxChecks: 5, DefaultRegion: "US",
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		off := func() time.Time { return time.Now().Add(skew) }
		h := tasks.NewSendHandler(store, f.codec, f.sender, tasks.HandlerConfig{Brand: "Acme"}, off,
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, _, err := svc.Start(ctx, num, ""); err != nil {
			t.Fatal(err)
		}
		if err := h.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
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
	v, _, _ := f.svc.Start(ctx, num, "")
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
	f := newFixture(t)
	sender, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006",
		WhatsAppFrom: "+14155238886", WhatsAppContentSID: content, APIURL: f.fake.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := messages.New(messages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.svc = otp.NewService(f.codec, f.store, tasks.NewQueue(asynq.NewClientFromRedisClient(f.rdb)), otp.Policy{
		TTL: 10 * time.Minute, Retention: time.Hour, MaxSends: 5, MaxChecks: 5, DefaultRegion: "US",
		Channels: map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true},
	}, log).WithLocales(cat)
	f.handler = tasks.NewSendHandler(f.store, f.codec, sender, tasks.HandlerConfig{
		Messages: cat, Brand: "Acme", Brands: []string{"Globex"}, StatusCallback: "https://otp.example" + tasks.StatusCallbackPath,
		Channels:              map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true},
		VoiceAllowedCountries: map[string]bool{"US": true, "FR": true},
		Reports:               f.svc,
	}, f.clock.Now, log)
	return f
}

// Each channel goes out the way Twilio wants it, in the verification's
// language, with the one code of the verification.
func TestEachChannelGoesOut(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "")
	var v otp.Verification
	for _, r := range []otp.SendRequest{
		{To: "+33612345678", Channel: "sms", AppHash: "FA+9qCX9VSu"},
		{To: "+33612345678", Channel: "whatsapp"},
		{To: "+33612345678", Channel: "call"},
	} {
		var err error
		if v, _, err = f.svc.Send(ctx, r); err != nil {
			t.Fatalf("%s: %v", r.Channel, err)
		}
		ts := f.tasks(t)
		if err := f.handler.ProcessTask(ctx, ts[len(ts)-1]); err != nil {
			t.Fatal(err)
		}
	}
	code := f.code(t, v)
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
	got, _ := f.svc.Get(ctx, v.ID)
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
	v, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Channel: "whatsapp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
		t.Fatal(err)
	}
	form := f.fake.Messages()[0].Form
	if form.Get("ContentSid") != "HX0123456789abcdef0123456789abcdef" || form.Get("Body") != "" ||
		form.Get("ContentVariables") != `{"1":"`+f.code(t, v)+`"}` {
		t.Fatalf("%v", form)
	}
}

// code opens a verification's stored code.
func (f *fixture) code(t *testing.T, v otp.Verification) string {
	t.Helper()
	tag, _ := otp.TagOfID(v.ID)
	_, sealed, err := f.store.GetWithSealed(context.Background(), tag, v.ID)
	if err != nil || sealed == "" {
		t.Fatalf("no code: %v", err)
	}
	code, err := f.codec.Open(v.ID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
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
			v, _, err := f.svc.Send(ctx, otp.SendRequest{To: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := otp.TagOfID(v.ID)
			key := "otp:{" + tag + "}"
			for k, val := range tc.set {
				f.rdb.HSet(ctx, key, k, val)
			}
			if tc.attempt != "" {
				f.rdb.HSet(ctx, key, "a1", tc.attempt)
			}
			if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
				t.Fatal(err)
			}
			if tc.reason != "" {
				if n := len(f.fake.Requests()); n != 0 {
					t.Fatalf("%d requests reached Twilio", n)
				}
				raw, _ := f.rdb.HGet(ctx, key, "a1").Result()
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
	v, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Channel: "call"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(9*time.Minute + 1*time.Second)
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("a call was placed with 59s left")
	}
	if d := f.delivery(t, v.ID); d.Status != otp.DeliveryFailed || d.Reason != "expired" {
		t.Fatalf("%+v", d)
	}
}

// A permanent Twilio error ends a workflow step at once: the next step's
// attempt is queued on its channel, with the same code.
func TestPermanentErrorMovesTheWorkflow(t *testing.T) {
	ctx := context.Background()
	f := channelFixture(t, "")
	v, _, err := f.svc.Send(ctx, otp.SendRequest{To: num, Workflow: []string{"sms", "call"}})
	if err != nil {
		t.Fatal(err)
	}
	f.fake.Script(twiliofake.Response{Status: 400, Code: 21610})
	if err := f.handler.ProcessTask(ctx, f.tasks(t)[0]); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("want SkipRetry, got %v", err)
	}
	got, _ := f.svc.Get(ctx, v.ID)
	if got.SendAttempts != 2 || got.Attempts[1].Channel != "call" || got.Workflow.Steps[0].Status != otp.StepFailed ||
		got.Workflow.Steps[0].Reason != "twilio_error:21610" || got.Workflow.Steps[1].Status != otp.StepStarted {
		t.Fatalf("%+v %+v", got.Attempts, got.Workflow.Steps)
	}
	ts := f.tasks(t)
	if err := f.handler.ProcessTask(ctx, ts[len(ts)-1]); err != nil {
		t.Fatal(err)
	}
	if calls := f.fake.Calls(); len(calls) != 1 || twiliofake.CodeIn(twiliofake.SpokenIn(calls[0].Form.Get("Twiml"))[0].Text) != f.code(t, v) {
		t.Fatalf("calls %v", calls)
	}
}
