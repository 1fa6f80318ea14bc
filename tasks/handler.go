package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// SendHandler delivers one send attempt.
type SendHandler struct {
	store    *otp.Store
	codec    *otp.Codec
	sender   otp.Sender
	template string
	now      func() time.Time
	log      *slog.Logger
}

// NewSendHandler wires the handler. template contains "{code}".
func NewSendHandler(store *otp.Store, codec *otp.Codec, sender otp.Sender, template string, now func() time.Time, log *slog.Logger) *SendHandler {
	return &SendHandler{store: store, codec: codec, sender: sender, template: template, now: now, log: log}
}

// ProcessTask implements asynq.Handler.
func (h *SendHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := ParseSendPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	tag, _ := otp.TagOfID(p.ID)
	log := h.log.With("verification", p.ID, "attempt", p.Attempt)

	v, sealed, err := h.store.GetForSend(ctx, tag, p.ID, h.now())
	if errors.Is(err, otp.ErrNotFound) {
		// Rolled back after a failed enqueue, or gone past retention.
		log.InfoContext(ctx, "send skipped: verification not found")
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case v.Status != otp.StatusPending || sealed == "":
		log.InfoContext(ctx, "send skipped: verification no longer pending", "status", v.Status)
		return nil
	case p.Attempt < v.SendAttempts:
		// A newer resend of the same code is queued: one SMS is enough.
		log.InfoContext(ctx, "send skipped: superseded by a newer send", "sends", v.SendAttempts)
		return nil
	case p.Attempt > v.SendAttempts:
		// The resend that enqueued this task was rolled back.
		log.InfoContext(ctx, "send skipped: attempt was rolled back")
		return nil
	}
	left := v.ExpiresAt.Sub(h.now())
	if left <= 0 {
		log.InfoContext(ctx, "send skipped: code expired")
		return nil
	}
	code, err := h.codec.Open(p.ID, sealed)
	if err != nil {
		h.record(ctx, log, tag, p, otp.Delivery{Status: otp.DeliveryFailed})
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}

	r, err := h.sender.Send(ctx, otp.Message{
		To:       v.To,
		Body:     strings.Replace(h.template, "{code}", code, 1),
		ValidFor: left,
	})
	if err != nil {
		var se *otp.SendError
		permanent := errors.As(err, &se) && se.Permanent
		retried, ok1 := asynq.GetRetryCount(ctx)
		maxRetry, ok2 := asynq.GetMaxRetry(ctx)
		lastTry := ok1 && ok2 && retried >= maxRetry
		if permanent || lastTry {
			d := otp.Delivery{Status: otp.DeliveryFailed}
			if se != nil {
				d.ErrorCode = se.Code
			}
			h.record(ctx, log, tag, p, d)
			log.WarnContext(ctx, "send failed for good", "err", err, "permanent", permanent)
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		log.WarnContext(ctx, "send failed, will retry", "err", err, "retried", retried)
		return err
	}
	h.record(ctx, log, tag, p, otp.Delivery{Status: r.Status, MessageSID: r.MessageSID})
	log.InfoContext(ctx, "sms accepted", "message_sid", r.MessageSID)
	return nil
}

func (h *SendHandler) record(ctx context.Context, log *slog.Logger, tag string, p SendPayload, d otp.Delivery) {
	d.UpdatedAt = h.now()
	// The SMS has left (or failed for good): recording must not be undone
	// by a deadline that passes right now.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := h.store.RecordDelivery(rctx, tag, p.ID, p.Attempt, d); err != nil {
		log.ErrorContext(ctx, "record delivery", "err", err)
	}
}
