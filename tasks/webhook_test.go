package tasks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
	"github.com/otpd/otpd/tasks"
)

var webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// receiver is a customer's backend: it records what it gets, and answers
// with the statuses it is scripted with (200 after them).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []*http.Request
	bodies  [][]byte
	answers []int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, body)
		status := 200
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if status == http.StatusFound {
			http.Redirect(w, req, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// webhookCounts records what a WebhookHandler observes.
type webhookCounts struct {
	mu       sync.Mutex
	outcomes map[string]int // "type outcome"
	pending  int64
}

func (c *webhookCounts) Webhook(typ, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes[typ+" "+outcome]++
}

func (c *webhookCounts) WebhooksPending(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = n
}

func (c *webhookCounts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes[key]
}

func webhookFixture(t *testing.T, url string) (*fixture, *tasks.Webhooks, *tasks.WebhookHandler, *webhookCounts) {
	t.Helper()
	f := newFixture(t)
	w := tasks.NewWebhooks(f.Parts.Queue, f.Events)
	counts := &webhookCounts{outcomes: map[string]int{}}
	h, err := tasks.NewWebhookHandler(tasks.WebhookConfig{URL: url, Secret: webhookSecret, MaxAge: 24 * time.Hour,
		Observer: counts}, f.Events, f.Clock.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f, w, h, counts
}

// backlog bounds the fixture's events by cfg, counting in counts.
func (f *fixture) backlog(cfg tasks.BacklogConfig, counts *webhookCounts) *tasks.Backlog {
	cfg.Observer = counts
	return tasks.NewBacklog(cfg, f.Events, f.insp, f.Clock.Now, slog.New(slog.DiscardHandler))
}

// evtID is an event id as the service makes them.
func evtID(n int, typ string) string {
	return fmt.Sprintf("evt_VE%032x_%s", n, typ)
}

func (f *fixture) webhookTasks(t *testing.T) []*asynq.TaskInfo {
	t.Helper()
	infos, err := f.insp.ListPendingTasks(tasks.WebhookQueue)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	return infos
}

// An event is queued once per id, and delivered signed as Standard
// Webhooks says, with the verification as GET shows it and never its code.
func TestWebhookDelivery(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t, 500, 500)
	f, w, h, _ := webhookFixture(t, r.URL)
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	e := otp.Event{ID: "evt_" + v.ID + "_verification.canceled", Type: otp.EventCanceled, At: f.Clock.Now(), Verification: v}
	for i := 0; i < 2; i++ {
		if err := w.Emit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ts := f.webhookTasks(t)
	if len(ts) != 1 || ts[0].ID != e.ID {
		t.Fatalf("queued %v", ts)
	}
	task := asynq.NewTask(ts[0].Type, ts[0].Payload)
	// Two 500s, then the third try is taken.
	for i := 0; i < 2; i++ {
		if err := h.ProcessTask(ctx, task); err == nil || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("try %d: want a retryable error, got %v", i+1, err)
		}
	}
	if err := h.ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	verifier, _ := standardwebhooks.NewWebhook(webhookSecret)
	for i, req := range r.got {
		if req.Header.Get("webhook-id") != e.ID {
			t.Fatalf("try %d: webhook-id %q", i+1, req.Header.Get("webhook-id"))
		}
		if err := verifier.Verify(r.bodies[i], req.Header); err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	var body struct {
		Type string
		Data struct{ Verification otp.Verification }
	}
	if err := json.Unmarshal(r.bodies[2], &body); err != nil || body.Type != otp.EventCanceled || body.Data.Verification.ID != v.ID {
		t.Fatalf("body %s: %v", r.bodies[2], err)
	}
	if code := f.Code(t, v); strings.Contains(string(ts[0].Payload), code) || strings.Contains(string(r.bodies[2]), code) {
		t.Fatal("an event carries the code")
	}
	if n := f.RDB.ZCard(ctx, redisstore.PendingEventsKey).Val(); n != 0 {
		t.Fatalf("%d events still counted as waiting", n)
	}
}

// A fraud event carries its block, not a verification, signed like the
// others; its id names the block and when it began.
func TestWebhookFraudEvent(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t)
	f, w, h, _ := webhookFixture(t, r.URL)
	since := f.Clock.Now()
	b := otp.FraudBlock{Scope: otp.FraudScopePrefix, Prefix: "+14155552", Since: since, Until: since.Add(time.Hour), Settled: 20, Approved: 1}
	e := otp.Event{ID: "evtf_fraud.unblocked_+14155552_" + strconv.FormatInt(since.UnixMilli(), 10), Type: otp.EventFraudUnblocked,
		At: since, Block: &b, Unblock: otp.UnblockLifted}
	if err := w.Emit(ctx, e); err != nil {
		t.Fatal(err)
	}
	ts := f.webhookTasks(t)
	if len(ts) != 1 {
		t.Fatalf("queued %v", ts)
	}
	if err := h.ProcessTask(ctx, asynq.NewTask(ts[0].Type, ts[0].Payload)); err != nil {
		t.Fatal(err)
	}
	verifier, _ := standardwebhooks.NewWebhook(webhookSecret)
	if err := verifier.Verify(r.bodies[0], r.got[0].Header); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(r.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	data, _ := body["data"].(map[string]any)
	block, _ := data["block"].(map[string]any)
	if body["type"] != otp.EventFraudUnblocked || data["verification"] != nil || data["reason"] != "lifted" ||
		block["prefix"] != "+14155552" || block["settled"] != 20.0 || block["shadow"] != false {
		t.Fatalf("body %s", r.bodies[0])
	}
	if typ := otp.EventTypeOfID(e.ID); typ != otp.EventFraudUnblocked {
		t.Fatalf("type of %s: %q", e.ID, typ)
	}
}

// A failed delivery's error, which asynq keeps as the task's last error
// and its dashboard shows, does not carry a token from WEBHOOK_URL's
// query, whether the receiver answered or could not be reached.
func TestWebhookErrorsHideTheURLsSecrets(t *testing.T) {
	ctx := context.Background()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused.Close()
	dropping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	}))
	t.Cleanup(dropping.Close)
	for _, tc := range []struct{ name, base, want string }{
		{"answered 500", newReceiver(t, 500).URL, "answered 500"},
		{"connection refused", "http://" + refused.Addr().String(), "hook?token=xxxxx"},
		{"connection dropped", dropping.URL, "hook?token=xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, w, h, _ := webhookFixture(t, tc.base+"/hook?token=s3cret")
			if err := w.Emit(ctx, otp.Event{ID: evtID(1, otp.EventApproved), Type: otp.EventApproved, At: f.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
			err := h.ProcessTask(ctx, asynq.NewTask(tasks.TypeWebhook, f.webhookTasks(t)[0].Payload))
			if err == nil || errors.Is(err, asynq.SkipRetry) || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a retryable error about %q without the token, got %v", tc.want, err)
			}
		})
	}
}

// A redirect is not followed (the receiver's URL is the only place events
// go), and an event older than WEBHOOK_MAX_AGE is given up.
func TestWebhookRefusals(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t, http.StatusFound)
	f, w, h, counts := webhookFixture(t, r.URL)
	e := otp.Event{ID: "evt_1", Type: otp.EventApproved, At: f.Clock.Now()}
	if err := w.Emit(ctx, e); err != nil {
		t.Fatal(err)
	}
	task := asynq.NewTask(tasks.TypeWebhook, f.webhookTasks(t)[0].Payload)
	if err := h.ProcessTask(ctx, task); err == nil {
		t.Fatal("a 302 counted as delivered")
	}
	if len(r.got) != 1 {
		t.Fatalf("the redirect was followed: %d requests", len(r.got))
	}
	f.Clock.Advance(24*time.Hour + time.Second)
	// Given up, counted, and done with: not archived to sit in Redis.
	if err := h.ProcessTask(ctx, task); err != nil {
		t.Fatalf("an old event: %v", err)
	}
	if len(r.got) != 1 {
		t.Fatal("an old event was sent")
	}
	if counts.get(otp.EventApproved+" expired") != 1 || counts.get(otp.EventApproved+" failed") != 1 {
		t.Fatalf("counted %v", counts.outcomes)
	}
	if f.RDB.ZScore(ctx, redisstore.PendingEventsKey, "evt_1").Err() == nil {
		t.Fatal("a given-up event is still indexed as waiting")
	}
}

// A receiver that is down for long cannot grow Redis without bound: beyond
// WEBHOOK_MAX_PENDING the oldest events go, each counted under its type;
// one being delivered right now is left to end on its own, and index
// entries without a task (or older than any task can be) are forgotten
// without counting as dropped.
func TestWebhookTrim(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	arrived := make(chan string, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("webhook-id")
		<-release
	}))
	t.Cleanup(hang.Close)
	f, w, h, counts := webhookFixture(t, hang.URL)
	base := f.Clock.Now()
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = evtID(i, otp.EventApproved)
		e := otp.Event{ID: ids[i], Type: otp.EventApproved, At: base.Add(time.Duration(i) * time.Second)}
		if err := w.Emit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// An entry whose task never came, and one older than WEBHOOK_MAX_AGE.
	orphan, ancient := evtID(90, otp.EventCanceled), evtID(91, otp.EventCanceled)
	f.RDB.ZAdd(ctx, redisstore.PendingEventsKey, redis.Z{Score: float64(base.Add(-time.Second).UnixMilli()), Member: orphan},
		redis.Z{Score: float64(base.Add(-25 * time.Hour).UnixMilli()), Member: ancient})

	// The oldest event is being delivered: the receiver holds it.
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhook, h)
	srv := asynq.NewServerFromRedisClient(f.RDB, asynq.Config{Concurrency: 1, Queues: map[string]int{tasks.WebhookQueue: 1},
		LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	select {
	case got := <-arrived:
		if got != ids[0] {
			t.Fatalf("the server took %s first", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery started")
	}

	if err := f.backlog(tasks.BacklogConfig{MaxAge: 24 * time.Hour, MaxPending: 3}, counts).Trim(ctx); err != nil {
		t.Fatal(err)
	}
	indexed := f.RDB.ZRange(ctx, redisstore.PendingEventsKey, 0, -1).Val()
	if want := []string{ids[0], ids[2], ids[3], ids[4]}; strings.Join(indexed, ",") != strings.Join(want, ",") {
		t.Fatalf("indexed after the trim:\n%v\nwant\n%v", indexed, want)
	}
	var queued []string
	for _, ti := range f.webhookTasks(t) {
		queued = append(queued, ti.ID)
	}
	if strings.Join(queued, ",") != strings.Join(ids[2:], ",") {
		t.Fatalf("queued after the trim: %v", queued)
	}
	if n := counts.get(otp.EventApproved + " dropped"); n != 1 || counts.get(otp.EventCanceled+" dropped") != 0 {
		t.Fatalf("counted %v", counts.outcomes)
	}
	if counts.pending != 4 {
		t.Fatalf("pending gauge %d, want 4", counts.pending)
	}

	// The held delivery ends on its own, and leaves the index.
	unblock()
	deadline := time.Now().Add(10 * time.Second)
	for f.RDB.ZScore(ctx, redisstore.PendingEventsKey, ids[0]).Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the delivered event stayed indexed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With nobody delivering (an api with WEBHOOK_URL, its worker without),
// the events still leave Redis: past WEBHOOK_MAX_AGE and an hour's grace
// they are given up (expired), beyond WEBHOOK_MAX_PENDING the oldest are
// dropped. A process without WEBHOOK_URL gives up only what no
// configuration would still retry, and leaves the number alone.
func TestBacklogBoundsUndeliveredEvents(t *testing.T) {
	ctx := context.Background()
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name             string
		cfg              tasks.BacklogConfig
		ages             []time.Duration // of the events, oldest first
		expired, dropped int             // the oldest, in this order
	}{
		{"with WEBHOOK_URL", tasks.BacklogConfig{MaxAge: day, MaxPending: 3},
			[]time.Duration{26 * time.Hour, day + 61*time.Minute, day + 59*time.Minute, 2 * time.Hour, 2 * time.Second, time.Second, 0}, 2, 2},
		{"with WEBHOOK_URL, few waiting", tasks.BacklogConfig{MaxAge: day, MaxPending: 100},
			[]time.Duration{26 * time.Hour, day + 59*time.Minute, 0}, 1, 0},
		{"without WEBHOOK_URL", tasks.BacklogConfig{MaxAge: config.MaxWebhookAge},
			[]time.Duration{8 * day, 6 * day, 26 * time.Hour, time.Second, 0}, 1, 0},
		{"unbounded", tasks.BacklogConfig{}, []time.Duration{30 * day, 0}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, w, _, counts := webhookFixture(t, "http://127.0.0.1:1/")
			now := f.Clock.Now()
			ids := make([]string, len(tc.ages))
			for i, age := range tc.ages {
				ids[i] = evtID(i, otp.EventApproved)
				if err := w.Emit(ctx, otp.Event{ID: ids[i], Type: otp.EventApproved, At: now.Add(-age)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.backlog(tc.cfg, counts).Trim(ctx); err != nil {
				t.Fatal(err)
			}
			kept := ids[tc.expired+tc.dropped:]
			var queued []string
			for _, ti := range f.webhookTasks(t) {
				queued = append(queued, ti.ID)
			}
			slices.Sort(queued)
			indexed := f.RDB.ZRange(ctx, redisstore.PendingEventsKey, 0, -1).Val()
			if strings.Join(queued, ",") != strings.Join(kept, ",") || strings.Join(indexed, ",") != strings.Join(kept, ",") {
				t.Fatalf("kept\n%v\nwant\n%v\n(indexed %v)", queued, kept, indexed)
			}
			if counts.get(otp.EventApproved+" expired") != tc.expired || counts.get(otp.EventApproved+" dropped") != tc.dropped ||
				counts.pending != int64(len(kept)) {
				t.Fatalf("counted %v, pending %d", counts.outcomes, counts.pending)
			}
		})
	}
}

// Emit indexes an event with its task, and not when the task cannot be
// queued; a repeated event keeps its first time.
func TestWebhookEmitIndex(t *testing.T) {
	ctx := context.Background()
	f, w, _, _ := webhookFixture(t, "http://127.0.0.1:1/")
	at := f.Clock.Now()
	id := evtID(1, otp.EventApproved)
	for i := 0; i < 2; i++ {
		if err := w.Emit(ctx, otp.Event{ID: id, Type: otp.EventApproved, At: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.RDB.ZScore(ctx, redisstore.PendingEventsKey, id).Val(); got != float64(at.UnixMilli()) {
		t.Fatalf("indexed at %v, want %v", got, at.UnixMilli())
	}
	if n := len(f.webhookTasks(t)); n != 1 {
		t.Fatalf("%d tasks for one event", n)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Emit(canceled, otp.Event{ID: evtID(2, otp.EventApproved), Type: otp.EventApproved, At: at}); err == nil {
		t.Fatal("an event queued with a canceled context")
	}
	if n := f.RDB.ZCard(ctx, redisstore.PendingEventsKey).Val(); n != 1 {
		t.Fatalf("%d indexed, want 1", n)
	}
}

func TestWebhookRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 12: time.Hour, 90: time.Hour} {
		for i := 0; i < 20; i++ {
			if d := tasks.WebhookRetryDelay(n, nil, nil); d < want*3/4 || d >= want*5/4 {
				t.Fatalf("n=%d: %v", n, d)
			}
		}
	}
}
