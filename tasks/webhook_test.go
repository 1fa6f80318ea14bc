package tasks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/otp"
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

func webhookFixture(t *testing.T, url string, maxPending int64) (*fixture, *tasks.Webhooks, *tasks.WebhookHandler) {
	t.Helper()
	f := newFixture(t)
	w := tasks.NewWebhooks(asynq.NewClientFromRedisClient(f.rdb), f.rdb)
	h, err := tasks.NewWebhookHandler(tasks.WebhookConfig{URL: url, Secret: webhookSecret, MaxAge: 24 * time.Hour,
		MaxPending: maxPending}, f.rdb, f.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f, w, h
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
	f, w, h := webhookFixture(t, r.URL, 1000)
	v, _, err := f.svc.Start(ctx, num, "")
	if err != nil {
		t.Fatal(err)
	}
	e := otp.Event{ID: "evt_" + v.ID + "_verification.canceled", Type: otp.EventCanceled, At: f.clock.Now(), Verification: v}
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
	if code := f.code(t, v); strings.Contains(string(ts[0].Payload), code) || strings.Contains(string(r.bodies[2]), code) {
		t.Fatal("an event carries the code")
	}
	if n := f.rdb.ZCard(ctx, tasks.PendingKey).Val(); n != 0 {
		t.Fatalf("%d events still counted as waiting", n)
	}
}

// A redirect is not followed (the receiver's URL is the only place events
// go), and an event older than WEBHOOK_MAX_AGE is given up.
func TestWebhookRefusals(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t, http.StatusFound)
	f, w, h := webhookFixture(t, r.URL, 1000)
	e := otp.Event{ID: "evt_1", Type: otp.EventApproved, At: f.clock.Now()}
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
	f.clock.Advance(24*time.Hour + time.Second)
	if err := h.ProcessTask(ctx, task); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("an old event: %v", err)
	}
	if len(r.got) != 1 {
		t.Fatal("an old event was sent")
	}
}

// A receiver that is down for long cannot grow Redis without bound: beyond
// WEBHOOK_MAX_PENDING the oldest events go.
func TestWebhookTrim(t *testing.T) {
	ctx := context.Background()
	f, w, h := webhookFixture(t, "http://127.0.0.1:1/", 3)
	base := f.clock.Now()
	for i := 0; i < 5; i++ {
		e := otp.Event{ID: "evt_" + string(rune('a'+i)), Type: otp.EventApproved, At: base.Add(time.Duration(i) * time.Second)}
		if err := w.Emit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Trim(ctx, f.insp); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, ti := range f.webhookTasks(t) {
		left = append(left, ti.ID)
	}
	if strings.Join(left, ",") != "evt_c,evt_d,evt_e" || f.rdb.ZCard(ctx, tasks.PendingKey).Val() != 3 {
		t.Fatalf("left %v", left)
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
