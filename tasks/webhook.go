package tasks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/internal/httpx"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/otp"
)

// Verification events go to the customer's backend through asynq on a
// queue of their own, served by a server of their own in the worker: a
// receiver that is down or hangs fills only that queue's workers, never
// the sends'.
const (
	WebhookQueue   = "webhooks"
	webhookTimeout = 10 * time.Second
	// WEBHOOK_MAX_AGE (at most a week) ends the retries, long before these:
	// retries back off to an hour apart, so a week is under 200 of them.
	webhookMaxRetries = 1000
)

// Index keeps the events waiting for delivery by when they happened, so
// that the oldest can be dropped when too many wait (WEBHOOK_MAX_PENDING)
// or they are too old (WEBHOOK_MAX_AGE); otp/redisstore's EventIndex is the
// one.
type Index interface {
	// Add indexes event id, which happened at; a repeated event keeps its
	// first time.
	Add(ctx context.Context, id string, at time.Time) error
	Remove(ctx context.Context, id string) error
	Count(ctx context.Context) (int64, error)
	// CountBefore is how many of them happened before t.
	CountBefore(ctx context.Context, t time.Time) (int64, error)
	// Oldest are the n events that happened first.
	Oldest(ctx context.Context, n int64) ([]string, error)
}

// WebhookPayload is an event as queued: its webhook-id, when it happened,
// and the body every attempt sends (and signs) unchanged.
type WebhookPayload struct {
	ID   string          `json:"id"`
	At   int64           `json:"at"` // unix ms
	Body json.RawMessage `json:"body"`
	// Tenant is whose receiver gets it ("" the default tenant's).
	Tenant string `json:"t,omitempty"`
}

// webhookBody is the Standard Webhooks envelope: type, timestamp, data.
type webhookBody struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	Verification *otp.Verification `json:"verification,omitempty"`
	Attempt      int               `json:"attempt,omitempty"`
	Step         int               `json:"step,omitempty"`
	// A fraud event's block, and why it ended.
	Block  *otp.FraudBlock  `json:"block,omitempty"`
	Reason otp.FraudUnblock `json:"reason,omitempty"`
}

// Webhooks queues verification events; it implements otp.Events.
type Webhooks struct {
	queue  *Queue
	index  Index
	tenant string
}

// NewWebhooks queues events with q's client, on their own queue, and
// indexes them in index; the expiry checks go to q's shards.
func NewWebhooks(q *Queue, index Index) *Webhooks {
	return &Webhooks{queue: q, index: index}
}

// ForTenant queues the events of one tenant's verifications, for its own
// receiver, and its expiry checks on its queue.
func (w *Webhooks) ForTenant(name string, q *Queue) *Webhooks {
	return &Webhooks{queue: q, index: w.index, tenant: name}
}

// Emit queues an event for delivery. Its TaskID is the event's id, so the
// same event twice is queued once.
//
// The event is indexed before it is queued: a task that exists is always
// in the index, so Backlog.Trim sees every event it may have to drop. An
// index entry whose task never came (a failed enqueue not undone, a crash)
// is harmless: Trim forgets it once its task is not found.
func (w *Webhooks) Emit(ctx context.Context, e otp.Event) error {
	data := webhookData{Attempt: e.Attempt, Step: e.Step, Block: e.Block, Reason: e.Unblock}
	if e.Block == nil {
		data.Verification = &e.Verification
	}
	body, err := json.Marshal(webhookBody{Type: e.Type, Timestamp: e.At, Data: data})
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(WebhookPayload{ID: e.ID, At: e.At.UnixMilli(), Body: body, Tenant: w.tenant})
	// A repeated event keeps its first time, the one its task carries.
	// The index holds task ids, which Trim deletes by.
	id := taskID(w.tenant, e.ID)
	if err := w.index.Add(ctx, id, e.At); err != nil {
		return err
	}
	_, err = w.queue.client.EnqueueContext(ctx, asynq.NewTask(TypeWebhook, payload),
		asynq.Queue(WebhookQueue), asynq.TaskID(id), asynq.MaxRetry(webhookMaxRetries),
		asynq.Timeout(webhookTimeout+5*time.Second))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil // queued already, and indexed with it
	case err != nil:
		_ = w.index.Remove(context.WithoutCancel(ctx), id)
		return err
	}
	return nil
}

// ScheduleExpiry queues the check that emits the expired event, a second
// after the code's expiry.
func (w *Webhooks) ScheduleExpiry(ctx context.Context, id string, in time.Duration) error {
	return w.queue.scheduleExpiry(ctx, id, in)
}

// WebhookObserver counts deliveries: delivered, failed (another try comes),
// expired (WEBHOOK_MAX_AGE passed) and dropped (WEBHOOK_MAX_PENDING).
type WebhookObserver interface {
	Webhook(eventType, outcome string)
	WebhooksPending(n int64)
}

// Receiver is where one tenant's events go, and the secret they are
// signed with (whsec_…).
type Receiver struct{ URL, Secret string }

// WebhookConfig configures delivery.
type WebhookConfig struct {
	// URL and Secret are the default tenant's receiver (WEBHOOK_URL; ""
	// none), Tenants the others' (TENANTS_FILE), by tenant name.
	URL      string
	Secret   string // whsec_…
	Tenants  map[string]Receiver
	MaxAge   time.Duration // retries stop once an event is this old
	Observer WebhookObserver
	// Concurrency is the deliveries in flight at most (WEBHOOK_CONCURRENCY):
	// the idle connections kept alive to the receiver. 0 means 100.
	Concurrency int
	// Transport is the HTTP transport (nil: one of its own, sized by
	// Concurrency).
	Transport http.RoundTripper
}

// WebhookHandler delivers one event: signed as Standard Webhooks says, with
// the same webhook-id on every try, no redirect followed.
type WebhookHandler struct {
	cfg WebhookConfig
	// receivers by tenant name ("" the default tenant): each tenant's
	// events are signed with its own secret, so no receiver can verify,
	// or forge, another tenant's.
	receivers map[string]receiver
	http      *http.Client
	index     Index
	now       func() time.Time
	log       *slog.Logger
}

// NewWebhookHandler checks the secret and wires the handler.
func NewWebhookHandler(cfg WebhookConfig, index Index, now func() time.Time, log *slog.Logger) (*WebhookHandler, error) {
	all := map[string]Receiver{}
	if cfg.URL != "" {
		all[""] = Receiver{URL: cfg.URL, Secret: cfg.Secret}
	}
	for name, r := range cfg.Tenants {
		all[name] = r
	}
	receivers := make(map[string]receiver, len(all))
	for name, r := range all {
		signer, err := standardwebhooks.NewWebhook(r.Secret)
		if err != nil {
			return nil, fmt.Errorf("webhook secret of tenant %q: %w", cmp.Or(name, otp.DefaultTenant), err)
		}
		receivers[name] = receiver{url: r.URL, signer: signer}
	}
	rt := cfg.Transport
	if rt == nil {
		rt = httpx.Transport(cfg.Concurrency)
	}
	return &WebhookHandler{cfg: cfg, receivers: receivers, index: index, now: now, log: log,
		http: &http.Client{Transport: rt, Timeout: webhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// ProcessTask implements asynq.Handler.
func (h *WebhookHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p WebhookPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == "" {
		return fmt.Errorf("tasks: bad webhook payload: %w", asynq.SkipRetry)
	}
	var head struct{ Type string }
	_ = json.Unmarshal(p.Body, &head)
	if h.now().Sub(time.UnixMilli(p.At)) > h.cfg.MaxAge {
		h.done(ctx, taskID(p.Tenant, p.ID))
		h.observe(head.Type, "expired")
		h.log.WarnContext(ctx, "verification event given up: older than WEBHOOK_MAX_AGE", "event", p.ID)
		return nil // counted and logged; archiving it would only keep it in Redis
	}
	if err := h.post(ctx, p); err != nil {
		h.observe(head.Type, "failed")
		return err
	}
	h.done(ctx, taskID(p.Tenant, p.ID))
	h.observe(head.Type, "delivered")
	return nil
}

type receiver struct {
	url    string
	signer *standardwebhooks.Webhook
}

func (h *WebhookHandler) post(ctx context.Context, p WebhookPayload) error {
	r, ok := h.receivers[p.Tenant]
	if !ok {
		// Queued while the tenant had a receiver, or by an api whose
		// TENANTS_FILE differs: retried, so a rolling deploy loses nothing,
		// until WEBHOOK_MAX_AGE ends it.
		return fmt.Errorf("webhook: tenant %q has no receiver on this worker", cmp.Or(p.Tenant, otp.DefaultTenant))
	}
	now := h.now()
	sig, err := r.signer.Sign(p.ID, now, p.Body)
	if err != nil {
		return err
	}
	// net/http's errors quote the whole URL, and asynq keeps a handler's
	// error as the task's last error, which its dashboard shows: a token in
	// a receiver URL's query is masked out of them.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(p.Body))
	if err != nil {
		return fmt.Errorf("%w: %w", logmask.Error(err), asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "otpd-webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, p.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", logmask.Error(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: the receiver answered %d", resp.StatusCode)
	}
	return nil
}

func (h *WebhookHandler) done(ctx context.Context, id string) {
	_ = h.index.Remove(context.WithoutCancel(ctx), id)
}

func (h *WebhookHandler) observe(typ, outcome string) {
	if h.cfg.Observer != nil {
		h.cfg.Observer.Webhook(typ, outcome)
	}
}

// WebhookRetryDelay backs off from 1s, doubling, up to an hour, with ±25%
// jitter: a receiver back from an outage is not met by every event at once.
func WebhookRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	base := min(time.Second<<min(n, 12), time.Hour)
	return base*3/4 + time.Duration(jitter(int64(base/2)))
}

// eventOfTask is the event id in an event's task id ("tenant/" + it).
func eventOfTask(id string) string {
	if _, ev, ok := strings.Cut(id, "/"); ok {
		return ev
	}
	return id
}
