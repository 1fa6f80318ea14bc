package tasks

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// BacklogConfig bounds the verification events waiting for delivery.
type BacklogConfig struct {
	// MaxAge gives up the events older than it, an hour's grace added (0:
	// no bound on their age).
	MaxAge time.Duration
	// MaxPending is how many may wait; beyond it the oldest go (0: no bound
	// on their number).
	MaxPending int64
	Observer   WebhookObserver
}

// backlogGrace is how long past MaxAge an event may still be waiting for
// its next try: retries back off to an hour apart, and the try after
// MaxAge gives it up on its own. Past the grace, nobody is delivering it.
const backlogGrace = time.Hour

// Backlog keeps the events waiting for delivery within bounds, so that
// Redis cannot grow without end: not while a receiver is down, and not
// when nobody delivers at all (an api with WEBHOOK_URL whose worker has
// none). Every process that queues events runs one with its own bounds,
// whatever the other processes are configured with.
type Backlog struct {
	cfg   BacklogConfig
	index Index
	insp  *asynq.Inspector
	now   func() time.Time
	log   *slog.Logger
}

// NewBacklog bounds the events of index, whose tasks insp deletes.
func NewBacklog(cfg BacklogConfig, index Index, insp *asynq.Inspector, now func() time.Time, log *slog.Logger) *Backlog {
	return &Backlog{cfg: cfg, index: index, insp: insp, now: now, log: log}
}

// Run trims every interval until ctx ends.
func (b *Backlog) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := b.Trim(ctx); err != nil && ctx.Err() == nil {
			b.log.WarnContext(ctx, "trim the waiting verification events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Trim gives up the events older than MaxAge (and its grace), and drops the
// oldest beyond MaxPending; both are the oldest in the index, so one pass
// over them does both.
//
// An event leaves the index only once its task is gone: deleted here, or
// ended on its own (not found). One being delivered right now cannot be
// deleted; it stays, and ends on its own or is trimmed next time.
func (b *Backlog) Trim(ctx context.Context) error {
	n, err := b.index.Count(ctx)
	if err != nil {
		return err
	}
	var old int64
	if b.cfg.MaxAge > 0 {
		if old, err = b.index.CountBefore(ctx, b.now().Add(-b.cfg.MaxAge-backlogGrace)); err != nil {
			return err
		}
	}
	drop := old
	if b.cfg.MaxPending > 0 {
		drop = max(drop, n-b.cfg.MaxPending)
	}
	if drop <= 0 {
		b.pending(n)
		return nil
	}
	oldest, err := b.index.Oldest(ctx, drop)
	if err != nil {
		return err
	}
	var expired, dropped, kept int
	for i, id := range oldest {
		err := b.insp.DeleteTask(WebhookQueue, id)
		switch {
		case err == nil && int64(i) < old:
			expired++
			b.observe(otp.EventTypeOfID(eventOfTask(id)), "expired")
		case err == nil:
			dropped++
			b.observe(otp.EventTypeOfID(eventOfTask(id)), "dropped")
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		default: // being delivered, or Redis failed: keep its entry
			kept++
			continue
		}
		if err := b.index.Remove(ctx, id); err != nil {
			return err
		}
	}
	if expired > 0 {
		b.log.WarnContext(ctx, "verification events given up: older than WEBHOOK_MAX_AGE and not delivered (does a worker have WEBHOOK_URL?)",
			"expired", expired)
	}
	if dropped > 0 {
		b.log.WarnContext(ctx, "verification events dropped: too many waiting (WEBHOOK_MAX_PENDING)",
			"dropped", dropped, "being_delivered", kept)
	}
	b.pending(n - int64(len(oldest)-kept))
	return nil
}

func (b *Backlog) observe(typ, outcome string) {
	if b.cfg.Observer != nil {
		b.cfg.Observer.Webhook(typ, outcome)
	}
}

func (b *Backlog) pending(n int64) {
	if b.cfg.Observer != nil {
		b.cfg.Observer.WebhooksPending(n)
	}
}
