package otp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// DeliveryRequest names one send attempt to deliver, with what the queue
// knows of its retries.
type DeliveryRequest struct {
	ID      string
	Attempt int
	// Retried is how many tries of this attempt came before; LastTry says
	// the queue will not retry a failure of this one.
	Retried int
	LastTry bool
	// RetryIn is the least wait before the queue's next try after a try
	// that had Retried tries before it failed with err (its backoff; nil:
	// none).
	RetryIn func(retried int, err error) time.Duration
	// OrphanedAt is set when this try rescues one whose run died: when
	// that run was judged dead, by the store's clock. A claim made then or
	// before is that run's, and is taken over at once.
	OrphanedAt time.Time
}

// Besides nil (done: delivered, or nothing left to deliver) and a
// transient error (the queue tries again after its backoff), Deliver ends
// with one of these.
var (
	// ErrGaveUp: the delivery failed for good. Do not retry it.
	ErrGaveUp = errors.New("delivery failed for good")
	// ErrTooLate: the code dies before another try could go. Do not
	// retry it, and keep nothing: it was recorded as expired.
	ErrTooLate = errors.New("the code expires before another try")
)

// WaitError asks for another try after Wait. It is not a failure: a rate
// limit, or another live try holding the attempt.
type WaitError struct {
	Wait time.Duration
	Why  string
}

func (e *WaitError) Error() string { return fmt.Sprintf("deferred %s: %s", e.Wait, e.Why) }

// try is one try of a delivery: the request, its claim, and the code's
// deadline on this host's clock.
type try struct {
	DeliveryRequest
	claim     Claim
	claimedAt time.Time
	deadline  time.Time
	base      *slog.Logger
	log       *slog.Logger // built from base on first use: most tries log nothing
}

// logger is the try's logger, which names its verification and attempt.
// Building it costs the handler's attributes (masked, copied): a try that
// logs nothing, an accepted send below LOG_LEVEL=info, does not pay.
func (t *try) logger() *slog.Logger {
	if t.log == nil {
		t.log = t.base.With("verification", t.ID, "attempt", t.Attempt)
	}
	return t.log
}

// Deliver hands one send attempt to the gateway. The order of checks is
// the guarantee: nothing reaches the gateway unless the verification is
// pending, its code alive, this attempt the latest, the rate across
// workers allows it and this try holds the attempt's claim. Its message is
// written here, in the verification's locale, with the code opened from
// its sealed form; neither is kept.
func (s *Service) Deliver(ctx context.Context, r DeliveryRequest) error {
	if _, ok := TagOfID(r.ID); !ok || r.Attempt < 1 {
		return fmt.Errorf("%w: no such send attempt (%q, %d)", ErrGaveUp, r.ID, r.Attempt)
	}
	if s.d.Sender == nil || s.d.Texts == nil {
		return fmt.Errorf("%w: this service has no gateway", ErrGaveUp)
	}
	if wait, err := s.d.Throttle.Take(ctx); err != nil {
		return fmt.Errorf("%w: rate limiter: %w", ErrUnavailable, err)
	} else if wait > 0 {
		s.d.Delivered.Delivery("", OutcomeDeferred, 0)
		return &WaitError{Wait: wait, Why: "global SMS rate limit"}
	}
	// Time left is measured on this host's clock from the claim on: the
	// claim says how long the code has by the store's clock, a duration
	// that does not depend on how far this host's clock is off.
	t := &try{DeliveryRequest: r, claimedAt: s.d.Now(), base: s.d.Log}
	c, err := s.d.Store.Claim(ctx, r.ID, r.Attempt, s.policy.StaleClaim, r.OrphanedAt)
	if err != nil {
		return err
	}
	t.claim, t.deadline = c, t.claimedAt.Add(c.Remaining)
	if c.Outcome != ClaimSend {
		return s.unclaimed(ctx, t)
	}
	code, err := s.open(ctx, t)
	if err != nil || code == "" {
		return err
	}
	return s.send(ctx, t, code)
}

// unclaimed ends a try whose claim found nothing to send, or another try
// holding the attempt.
func (s *Service) unclaimed(ctx context.Context, t *try) error {
	switch c := t.claim; c.Outcome {
	case ClaimSkip:
		// Not retried: the verification no longer needs this message. The
		// attempt says why.
		if c.Reason != ClaimGone && c.Reason != ClaimRolledBack {
			s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, Reason: c.Reason})
		}
		t.logger().InfoContext(ctx, "send skipped", "reason", c.Reason)
		s.d.Delivered.Delivery("", OutcomeSkipped, 0)
		return nil
	case ClaimAlreadySent:
		t.logger().InfoContext(ctx, "send skipped: an earlier run's "+ChannelNoun(c.Channel)+" was accepted", "message_sid", c.MessageSID)
		s.d.Delivered.Delivery("", OutcomeDuplicateSuppressed, 0)
		return nil
	default:
		s.d.Delivered.Delivery("", OutcomeDeferred, 0)
		return &WaitError{Wait: c.Wait, Why: "another run holds this attempt"}
	}
}

// open checks that a claimed attempt may still go, and opens its code. ""
// with no error: it may not, and the attempt says why.
func (s *Service) open(ctx context.Context, t *try) (string, error) {
	c := t.claim
	tag, _ := TagOfID(t.ID)
	if !s.d.Codec.IsTagOf(tag, c.To) {
		// The stored number is not the one this id was made for: someone
		// wrote to the store without OTP_SECRET. Never send; never retry.
		s.d.Delivered.Delivery(c.Channel, OutcomeIntegrityError, 0)
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, Reason: string(ReasonIntegrity)})
		t.logger().ErrorContext(ctx, "refusing to send: the stored number does not match the verification id (Redis tampered with?)")
		return "", fmt.Errorf("%w: stored number does not match verification %s", ErrGaveUp, t.ID)
	}
	if why := s.refuse(c); why != "" {
		s.d.Delivered.Delivery(c.Channel, OutcomeSkipped, 0)
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, Reason: why})
		t.logger().WarnContext(ctx, "send refused", "channel", c.Channel, "reason", why)
		s.AttemptEnded(context.WithoutCancel(ctx), t.ID, t.Attempt, DeliveryFailed, why)
		return "", nil
	}
	if c.Claims > 1 {
		t.logger().WarnContext(ctx, "taking over a send whose earlier run died mid-request: the number may get the code twice", "claims", c.Claims)
	}
	code, err := s.d.Codec.Open(t.ID, c.Sealed)
	if err != nil {
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, Reason: string(ReasonUndecryptable)})
		return "", fmt.Errorf("%w: %w", ErrGaveUp, err)
	}
	return code, nil
}

// send writes the message and hands it to the gateway, never past the
// code's life.
func (s *Service) send(ctx context.Context, t *try, code string) error {
	c := t.claim
	left := t.deadline.Sub(s.d.Now())
	if least := minValidity(c.Channel); left < least {
		// Twilio's ValidityPeriod counts whole seconds from 1; with less
		// left it would be dropped, and Twilio would keep the message
		// queued for its default of ten hours. A call must ring and be
		// listened to before the code dies.
		s.d.Delivered.Delivery(c.Channel, OutcomeSkipped, 0)
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, Reason: string(ReasonExpired)})
		t.logger().InfoContext(ctx, "send skipped: too little validity left", "left_ms", left.Milliseconds(), "needs", least)
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	text := s.d.Texts.Write(TextParams{Locale: c.Locale, Channel: c.Channel,
		Brand: s.brand(t, c.Brand), Code: code, AppHash: s.appHash(t, c.AppHash)})
	rc, err := s.d.Sender.Send(sctx, Message{
		Channel: c.Channel, To: c.To, Body: text.Body, Code: code, Locale: c.Locale,
		Language: text.Language, Voice: text.Voice,
		ValidFor: left, StatusCallback: s.callbackURL(t), Ref: AttemptRef(s.policy.Tenant, t.ID, t.Attempt),
	})
	if err != nil {
		return s.failed(ctx, t, err)
	}
	s.d.Delivered.Delivery(c.Channel, OutcomeAccepted, rc.ErrorCode)
	s.d.Delivered.Accepted(c.Channel, c.QueuedFor+s.d.Now().Sub(t.claimedAt))
	s.spent(c.Channel, c.To)
	s.record(ctx, t, AttemptUpdate{Status: rc.Status, MessageSID: rc.MessageSID, ErrorCode: rc.ErrorCode})
	if s.d.Log.Enabled(ctx, slog.LevelInfo) {
		t.logger().InfoContext(ctx, ChannelNoun(c.Channel)+" "+cmp.Or(rc.Handled, "accepted by the gateway"),
			"channel", c.Channel, "locale", c.Locale, "sid", rc.MessageSID)
	}
	if rc.Status == DeliveryFailed {
		s.AttemptEnded(context.WithoutCancel(ctx), t.ID, t.Attempt, DeliveryFailed, "twilio_error:"+strconv.Itoa(rc.ErrorCode))
	}
	return nil
}

// failed records a gateway refusal, and says whether the queue is to try
// again.
func (s *Service) failed(ctx context.Context, t *try, err error) error {
	var se *SendError
	errors.As(err, &se)
	code := 0
	if se != nil {
		code = se.Code
	}
	channel := t.claim.Channel
	if se != nil && se.Permanent {
		gateway, reason := "Twilio", ReasonTwilioError
		if channel == ChannelTelegram {
			gateway, reason = "Telegram", ReasonTelegramError
		}
		outcome := OutcomePermanentError
		if se.Account {
			// Every message fails alike until someone fixes the account.
			outcome = OutcomeAccountError
			t.logger().ErrorContext(ctx, gateway+" refused our account: no "+ChannelNoun(channel)+" can go out until an operator acts", "err", err)
		} else {
			t.logger().WarnContext(ctx, gateway+" refused the "+ChannelNoun(channel), "err", err)
		}
		s.d.Delivered.Delivery(channel, outcome, code)
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, ErrorCode: code, Reason: string(reason)})
		s.AttemptEnded(context.WithoutCancel(ctx), t.ID, t.Attempt, DeliveryFailed, string(reason)+":"+strconv.Itoa(code))
		return fmt.Errorf("%w: %w", ErrGaveUp, err)
	}
	s.d.Delivered.Delivery(channel, OutcomeTransientError, code)
	// The gateway answered, so it did not take the message: the retry may
	// send at once. Without an answer (timeout, reset) the message may have
	// gone out, and the claim stays until it is stale.
	if se != nil && se.HTTPStatus != 0 {
		if rerr := s.d.Store.Release(context.WithoutCancel(ctx), t.ID, t.Attempt, code); rerr != nil {
			t.logger().ErrorContext(ctx, "release claim", "err", rerr)
		}
	}
	next := s.d.Now()
	if t.RetryIn != nil {
		next = next.Add(t.RetryIn(t.Retried, err))
	}
	switch {
	case next.Add(MinValidity).After(t.deadline):
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, ErrorCode: code, Reason: string(ReasonExpired)})
		t.logger().WarnContext(ctx, "send failed and the code expires before another try", "err", err)
		return fmt.Errorf("%w: %w", ErrTooLate, err)
	case t.LastTry:
		s.record(ctx, t, AttemptUpdate{Status: DeliveryFailed, ErrorCode: code, Reason: string(ReasonRetriesExhausted)})
		t.logger().WarnContext(ctx, "send failed for good", "err", err)
		s.AttemptEnded(context.WithoutCancel(ctx), t.ID, t.Attempt, DeliveryFailed, string(ReasonRetriesExhausted))
		return fmt.Errorf("%w: %w", ErrGaveUp, err)
	}
	t.logger().WarnContext(ctx, "send failed, will retry", "err", err, "retried", t.Retried)
	return err
}

// refuse says why an attempt must not go out although its claim holds:
// its channel is no longer enabled, or a call's number is outside
// VOICE_ALLOWED_COUNTRIES ("" when it may go). The worker checks again
// what the api checked: whoever can write to the store must not turn an
// SMS into a call to a premium number.
func (s *Service) refuse(c Claim) string {
	if !s.policy.channelEnabled(c.Channel) {
		return string(ReasonChannelDisabled)
	}
	if c.Channel == ChannelCall && len(s.policy.VoiceAllowedCountries) > 0 {
		if phone, err := ParsePhone(c.To, ""); err != nil || !s.policy.VoiceAllowedCountries[phone.Region] {
			return string(ReasonCountry)
		}
	}
	return ""
}

// brand is the brand whose key a verification stored, or OTP_BRAND: a key
// this worker does not know (a brand since removed, or a value written into
// the store) never reaches a message.
func (s *Service) brand(t *try, key string) string {
	if key == "" {
		return s.policy.Brand
	}
	if b, ok := s.brands[key]; ok {
		return b
	}
	t.logger().Warn("unknown brand key: sending with OTP_BRAND")
	return s.policy.Brand
}

// appHash is the stored app hash when it has the shape of one; anything
// else (written into the store by someone) is left out of the message.
func (s *Service) appHash(t *try, h string) string {
	if h != "" && !ValidAppHash(h) {
		t.logger().Warn("malformed app hash: left out of the message")
		return ""
	}
	return h
}

// minValidity is the least life a code must have left to go out on
// channel.
func minValidity(channel string) time.Duration {
	switch channel {
	case ChannelCall:
		return MinCallValidity
	case ChannelTelegram:
		// Telegram refuses a shorter ttl; a longer one would let it show
		// a dead code.
		return TelegramMinTTL
	}
	return MinValidity
}

func (s *Service) callbackURL(t *try) string {
	if t.claim.Channel == ChannelTelegram {
		// Telegram signs its reports with our token, and says which attempt
		// by the message's Ref (its payload): the URL needs no query.
		return s.policy.TelegramCallback
	}
	if s.policy.StatusCallback == "" {
		return ""
	}
	q := url.Values{"v": {t.ID}, "a": {strconv.Itoa(t.Attempt)}}
	if s.policy.Tenant != "" {
		// Signed by the gateway with the rest of the URL: whose record to
		// update cannot be forged.
		q.Set("t", s.policy.Tenant)
	}
	return s.policy.StatusCallback + "?" + q.Encode()
}

// record stores what a try found. The message has left (or failed for
// good): recording must not be lost to a deadline that passes right now.
func (s *Service) record(ctx context.Context, t *try, u AttemptUpdate) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := s.d.Store.Record(rctx, t.ID, t.Attempt, u); err != nil {
		t.logger().ErrorContext(ctx, "record attempt", "err", err)
	}
}

// DeliveryReport is the gateway's word on one send attempt's message or
// call.
type DeliveryReport struct {
	ID         string
	Attempt    int
	MessageSID string
	Status     DeliveryStatus
	ErrorCode  int
	// Channel is what the report is about (the callback's own fields say:
	// a CallSid or a MessageSid), and RawStatus the gateway's word for it.
	Channel   string
	RawStatus string
	// Refunded: the gateway gave the send's price back (Telegram's
	// is_refunded).
	Refunded bool
}

// DeliveryReport records a status callback. Reports that are late, out of
// order or about another message are accepted and ignored: the gateway
// need not retry them.
func (s *Service) DeliveryReport(ctx context.Context, r DeliveryReport) error {
	if _, ok := TagOfID(r.ID); !ok {
		return &InputError{Detail: "unknown verification id"}
	}
	recorded, err := s.d.Store.Record(ctx, r.ID, r.Attempt, AttemptUpdate{
		Status: r.Status, MessageSID: r.MessageSID, ErrorCode: r.ErrorCode, RawStatus: r.RawStatus,
		Channel: r.Channel, FromGateway: true,
	})
	if recorded {
		// Only reports that moved an attempt's status: an answered call
		// reports delivered twice (in-progress, completed), a WhatsApp
		// message delivered then read, a retried callback again. What the
		// report sets off must not be cut short by the gateway's request
		// ending.
		s.d.Observer.DeliveryReported(r.Channel, r.Status)
		v := s.AttemptEnded(context.WithoutCancel(ctx), r.ID, r.Attempt, r.Status, cmp.Or(r.RawStatus, string(r.Status)))
		if r.Refunded && v.ID != "" {
			s.refunded(v, r.Channel)
		}
	}
	return err
}
