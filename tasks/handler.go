package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/messages"
	"github.com/otpd/otpd/otp"
)

// HandlerConfig configures the send handler.
type HandlerConfig struct {
	// Messages writes each message or call in its locale; Brand is
	// OTP_BRAND, for verifications whose request named none, and Brands
	// the others a request may name (OTP_BRANDS).
	Messages *messages.Catalog
	Brand    string
	Brands   []string
	// Channels are the enabled channels (nil: SMS only), and
	// VoiceAllowedCountries the regions calls may go to (empty: all).
	// The worker checks them again: whoever can write to Redis must not
	// turn an SMS into a call to a premium number.
	Channels              map[string]bool
	VoiceAllowedCountries map[string]bool
	// StatusCallback is the absolute URL of the API's Twilio status webhook
	// ("" sends none). The handler adds the verification and attempt to it.
	StatusCallback string
	// StaleClaim is how old a claim must be before another run presumes its
	// owner died mid-request and sends again. It must exceed the gateway's
	// HTTP timeout, so a slow but live request is never duplicated.
	StaleClaim time.Duration
	// Limiter and Rate cap SMS per second across every worker process;
	// a nil Limiter means no cap.
	Limiter *redis_rate.Limiter
	Rate    redis_rate.Limit
	// Observer counts outcomes; nil counts nothing.
	Observer Observer
	// Reports hears of attempts that are known not to have got through,
	// so that their workflow moves on and the customer hears (nil: none).
	Reports Reports
}

// Reports is what the handler tells the service (otp.Service).
type Reports interface {
	AttemptEnded(ctx context.Context, id string, attempt int, status otp.DeliveryStatus, why string)
}

// Observer counts what the worker does with each send attempt.
type Observer interface {
	// Send counts one run's outcome: accepted, permanent_error,
	// transient_error, skipped, deferred, duplicate_suppressed or
	// integrity_error. channel is "" when the run did not get as far as
	// reading the attempt.
	Send(channel, outcome string, errorCode int)
	// Accepted observes the time from the send request to Twilio's 201.
	Accepted(channel string, sinceQueued time.Duration)
}

type nopObserver struct{}

func (nopObserver) Send(string, string, int)       {}
func (nopObserver) Accepted(string, time.Duration) {}

// RateLimitKey is the Redis key of the global send rate (redis_rate adds
// its "rate:" prefix).
const RateLimitKey = "otp:sms"

// SendHandler delivers one send attempt.
type SendHandler struct {
	brands map[string]string // BrandKey → brand
	store  *otp.Store
	codec  *otp.Codec
	sender otp.Sender
	cfg    HandlerConfig
	now    func() time.Time
	log    *slog.Logger
}

// NewSendHandler wires the handler. now is this host's clock (time.Now),
// used only to measure durations from a claim on; the code's expiry is
// judged by the store's clock (Redis's).
func NewSendHandler(store *otp.Store, codec *otp.Codec, sender otp.Sender, cfg HandlerConfig, now func() time.Time, log *slog.Logger) *SendHandler {
	if cfg.StaleClaim <= 0 {
		cfg.StaleClaim = 15 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Messages == nil {
		cfg.Messages, _ = messages.New(messages.Options{})
	}
	brands := map[string]string{}
	for _, b := range append([]string{cfg.Brand}, cfg.Brands...) {
		brands[otp.BrandKey(b)] = b
	}
	return &SendHandler{brands: brands, store: store, codec: codec, sender: sender, cfg: cfg, now: now, log: log}
}

// DeferError asks for the task to run again after Wait. It is not a
// failure: asynq's retry count does not grow (see IsFailure).
type DeferError struct {
	Wait time.Duration
	Why  string
}

func (e *DeferError) Error() string { return fmt.Sprintf("deferred %s: %s", e.Wait, e.Why) }

// IsFailure tells asynq which errors count against MaxRetry.
func IsFailure(err error) bool {
	var d *DeferError
	return err != nil && !errors.As(err, &d) && !errors.Is(err, asynq.RevokeTask)
}

// ProcessTask implements asynq.Handler. The order of checks is the
// guarantee: nothing reaches Twilio unless the verification is pending, its
// code alive, this attempt the latest, the global rate allows it and this
// run holds the attempt's claim.
func (h *SendHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := ParseSendPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	tag, _ := otp.TagOfID(p.ID)
	log := h.log.With("verification", p.ID, "attempt", p.Attempt)

	if h.cfg.Limiter != nil {
		res, err := h.cfg.Limiter.Allow(ctx, RateLimitKey, h.cfg.Rate)
		if err != nil {
			return fmt.Errorf("%w: rate limiter: %w", otp.ErrUnavailable, err)
		}
		if res.Allowed == 0 {
			h.cfg.Observer.Send("", "deferred", 0)
			return &DeferError{Wait: res.RetryAfter, Why: "global SMS rate limit"}
		}
	}

	// Time left is measured on this host's clock from the claim on: the
	// claim says how long the code has by the Redis clock, a duration that
	// does not depend on how far this host's clock is off.
	claimedAt := h.now()
	c, err := h.store.ClaimSend(ctx, tag, p.ID, p.Attempt, h.cfg.StaleClaim)
	if err != nil {
		return err
	}
	deadline := claimedAt.Add(c.Remaining)
	switch c.Outcome {
	case otp.ClaimSkip:
		// Not archived, not retried: the verification no longer needs this
		// SMS. The attempt says why.
		if c.Reason != "gone" && c.Reason != "rolled_back" {
			h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, Reason: c.Reason})
		}
		log.InfoContext(ctx, "send skipped", "reason", c.Reason)
		h.cfg.Observer.Send("", "skipped", 0)
		return nil
	case otp.ClaimAlreadySent:
		log.InfoContext(ctx, "send skipped: an earlier run's SMS was accepted", "message_sid", c.MessageSID)
		h.cfg.Observer.Send("", "duplicate_suppressed", 0)
		return nil
	case otp.ClaimBusy:
		h.cfg.Observer.Send("", "deferred", 0)
		return &DeferError{Wait: c.Wait, Why: "another run holds this attempt"}
	}
	if !h.codec.IsTagOf(tag, c.To) {
		// The stored number is not the one this id was made for: someone
		// wrote to Redis without OTP_SECRET. Never send; never retry.
		h.cfg.Observer.Send(c.Channel, "integrity_error", 0)
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, Reason: "integrity_error"})
		log.ErrorContext(ctx, "refusing to send: the stored number does not match the verification id (Redis tampered with?)")
		return fmt.Errorf("tasks: stored number does not match verification %s: %w", p.ID, asynq.SkipRetry)
	}
	if why := h.refuse(c); why != "" {
		h.cfg.Observer.Send(c.Channel, "skipped", 0)
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, Reason: why})
		log.WarnContext(ctx, "send refused", "channel", c.Channel, "reason", why)
		h.ended(ctx, p, otp.DeliveryFailed, why)
		return nil
	}
	if c.Claims > 1 {
		log.WarnContext(ctx, "taking over a send whose earlier run died mid-request: the number may get the code twice", "claims", c.Claims)
	}

	code, err := h.codec.Open(p.ID, c.Sealed)
	if err != nil {
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, Reason: "undecryptable"})
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	left := deadline.Sub(h.now())
	if least := minValidity(c.Channel); left < least {
		// Twilio's ValidityPeriod counts whole seconds from 1; with less
		// left it would be dropped, and Twilio would keep the message
		// queued for its default of ten hours. A call must ring and be
		// listened to before the code dies.
		h.cfg.Observer.Send(c.Channel, "skipped", 0)
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, Reason: "expired"})
		log.InfoContext(ctx, "send skipped: too little validity left", "left_ms", left.Milliseconds(), "needs", least)
		return nil
	}
	// The request never outlives the code, whatever the task deadline says.
	sctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	msg := h.cfg.Messages.Render(messages.Params{Locale: c.Locale, Channel: c.Channel,
		Brand: h.brand(log, c.Brand), Code: code, AppHash: h.appHash(log, c.AppHash)})
	r, err := h.sender.Send(sctx, otp.Message{
		Channel: c.Channel, To: c.To, Body: msg.Text, Code: code,
		Language: msg.Language, Voice: msg.Voice,
		ValidFor: left, StatusCallback: h.callbackURL(p),
	})
	if err == nil {
		h.cfg.Observer.Send(c.Channel, "accepted", r.ErrorCode)
		h.cfg.Observer.Accepted(c.Channel, c.QueuedFor+h.now().Sub(claimedAt))
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: r.Status, MessageSID: r.MessageSID, ErrorCode: r.ErrorCode})
		log.InfoContext(ctx, "accepted by Twilio", "channel", c.Channel, "sid", r.MessageSID)
		if r.Status == otp.DeliveryFailed {
			h.ended(ctx, p, otp.DeliveryFailed, "twilio_error:"+strconv.Itoa(r.ErrorCode))
		}
		return nil
	}
	return h.failed(ctx, log, tag, p, c.Channel, deadline, err)
}

func (h *SendHandler) failed(ctx context.Context, log *slog.Logger, tag string, p SendPayload, channel string, deadline time.Time, err error) error {
	var se *otp.SendError
	errors.As(err, &se)
	code := 0
	if se != nil {
		code = se.Code
	}
	if se != nil && se.Permanent {
		h.cfg.Observer.Send(channel, "permanent_error", code)
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, ErrorCode: code, Reason: "twilio_error"})
		log.WarnContext(ctx, "twilio refused the message", "err", err)
		h.ended(ctx, p, otp.DeliveryFailed, "twilio_error:"+strconv.Itoa(code))
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	h.cfg.Observer.Send(channel, "transient_error", code)
	// Twilio answered, so it did not take the message: the retry may send
	// at once. Without an answer (timeout, reset) the message may have
	// gone out, and the claim stays until it is stale.
	if se != nil && se.HTTPStatus != 0 {
		if rerr := h.store.ReleaseSend(context.WithoutCancel(ctx), tag, p.ID, p.Attempt, code); rerr != nil {
			log.ErrorContext(ctx, "release claim", "err", rerr)
		}
	}
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	next := h.now().Add(minRetryDelay(retried, err))
	switch {
	case next.Add(otp.MinValidity).After(deadline):
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, ErrorCode: code, Reason: "expired"})
		log.WarnContext(ctx, "send failed and the code expires before another try", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.RevokeTask)
	case ok1 && ok2 && retried >= maxRetry:
		h.record(ctx, log, tag, p, otp.AttemptUpdate{Status: otp.DeliveryFailed, ErrorCode: code, Reason: "retries_exhausted"})
		log.WarnContext(ctx, "send failed for good", "err", err)
		h.ended(ctx, p, otp.DeliveryFailed, "retries_exhausted")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log.WarnContext(ctx, "send failed, will retry", "err", err, "retried", retried)
	return err
}

// refuse says why an attempt must not go out although its claim holds:
// its channel is no longer enabled, or a call's number is outside
// VOICE_ALLOWED_COUNTRIES ("" when it may go).
func (h *SendHandler) refuse(c otp.Claim) string {
	enabled := c.Channel == otp.ChannelSMS && len(h.cfg.Channels) == 0
	if !enabled && !h.cfg.Channels[c.Channel] {
		return "channel_disabled"
	}
	if c.Channel == otp.ChannelCall && len(h.cfg.VoiceAllowedCountries) > 0 {
		if phone, err := otp.ParsePhone(c.To, ""); err != nil || !h.cfg.VoiceAllowedCountries[phone.Region] {
			return "country_not_allowed"
		}
	}
	return ""
}

// brand is the brand whose key a verification stored, or OTP_BRAND: a key
// this worker does not know (a brand since removed, or a value written into
// Redis) never reaches a message.
func (h *SendHandler) brand(log *slog.Logger, key string) string {
	if key == "" {
		return h.cfg.Brand
	}
	if b, ok := h.brands[key]; ok {
		return b
	}
	log.Warn("unknown brand key: sending with OTP_BRAND")
	return h.cfg.Brand
}

// appHash is the stored app hash when it has the shape of one; anything
// else (written into Redis by someone) is left out of the message.
func (h *SendHandler) appHash(log *slog.Logger, s string) string {
	if s != "" && !otp.ValidAppHash(s) {
		log.Warn("malformed app hash: left out of the message")
		return ""
	}
	return s
}

// minValidity is the least life a code must have left to go out on
// channel.
func minValidity(channel string) time.Duration {
	if channel == otp.ChannelCall {
		return otp.MinCallValidity
	}
	return otp.MinValidity
}

// ended tells the service that an attempt did not get through.
func (h *SendHandler) ended(ctx context.Context, p SendPayload, status otp.DeliveryStatus, why string) {
	if h.cfg.Reports != nil {
		h.cfg.Reports.AttemptEnded(context.WithoutCancel(ctx), p.ID, p.Attempt, status, why)
	}
}

func (h *SendHandler) callbackURL(p SendPayload) string {
	if h.cfg.StatusCallback == "" {
		return ""
	}
	q := url.Values{"v": {p.ID}, "a": {strconv.Itoa(p.Attempt)}}
	return h.cfg.StatusCallback + "?" + q.Encode()
}

func (h *SendHandler) record(ctx context.Context, log *slog.Logger, tag string, p SendPayload, u otp.AttemptUpdate) {
	// The SMS has left (or failed for good): recording must not be lost
	// to a deadline that passes right now.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := h.store.RecordAttempt(rctx, tag, p.ID, p.Attempt, u); err != nil {
		log.ErrorContext(ctx, "record attempt", "err", err)
	}
}
