package otp

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// SendJob asks the worker to deliver send attempt Attempt of a verification.
// It carries no code: the worker reads the sealed code from Redis.
type SendJob struct {
	ID      string
	Attempt int
	// Channel is for people reading the queue; the worker reads the
	// attempt's channel from Redis.
	Channel string
	// ValidFor is the code's life left when the send was requested, by the
	// Redis clock: a duration, which no host's clock offset can stretch.
	ValidFor time.Duration
}

// Queue hands jobs to the worker. Enqueueing the same (ID, Attempt), or
// scheduling the same step, twice must be harmless.
type Queue interface {
	EnqueueSend(ctx context.Context, job SendJob) error
	// ScheduleStep has the worker move verification id's workflow on from
	// step after in, unless something moved it already (StepTimeout).
	ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error
}

// Policy holds the configurable rules of the lifecycle.
type Policy struct {
	TTL           time.Duration // code validity
	Retention     time.Duration // how long a finished verification stays readable
	Cooldown      time.Duration // minimum gap between two sends to one number
	MaxSends      int           // sends per verification, first included
	MaxChecks     int           // wrong codes before the verification is dead
	DefaultRegion string        // region for numbers written without +

	SendCap          Window          // sends per number across verifications (0: off)
	FailureLock      Window          // wrong codes per number that lock it (0: off)
	PrefixDigits     int             // trailing digits a prefix drops
	AllowedCountries map[string]bool // ISO regions; empty: all
	RejectNonMobile  bool

	// Channels are the enabled channels (CHANNELS); empty: SMS only.
	Channels map[string]bool
	// VoiceAllowedCountries narrows calls, the toll-fraud channel, to these
	// regions on top of AllowedCountries; empty: no narrowing.
	VoiceAllowedCountries map[string]bool
	// Brands are the brands a request may name (OTP_BRANDS).
	Brands map[string]bool

	// Workflow is the default fallback workflow of a request that names
	// neither a workflow nor a channel (OTP_WORKFLOW; empty: SMS alone),
	// and ChannelTimeout how long a step waits for approval before the
	// next (OTP_CHANNEL_TIMEOUT).
	Workflow       []string
	ChannelTimeout time.Duration
}

// channelEnabled reports whether c is known and enabled.
func (p Policy) channelEnabled(c string) bool {
	if len(p.Channels) == 0 {
		return c == ChannelSMS
	}
	return KnownChannel(c) && p.Channels[c]
}

// enabledChannels lists the enabled channels, for an error message.
func (p Policy) enabledChannels() []string {
	var out []string
	for _, c := range []string{ChannelSMS, ChannelWhatsApp, ChannelCall} {
		if p.channelEnabled(c) {
			out = append(out, c)
		}
	}
	return out
}

// Service is the verification lifecycle: the API calls it, it calls the
// store and the queue.
type Service struct {
	codec   *Codec
	store   *Store
	queue   Queue
	policy  Policy
	log     *slog.Logger
	guard   Guard
	obs     Observer
	locales Locales
	events  Events
}

// NewService wires a service. Time is the store's (the Redis server's
// clock in production). It applies no cross-number limits and counts
// nothing until WithGuard and WithObserver say how.
func NewService(codec *Codec, store *Store, queue Queue, policy Policy, log *slog.Logger) *Service {
	if policy.PrefixDigits == 0 {
		policy.PrefixDigits = 3
	}
	return &Service{codec: codec, store: store, queue: queue, policy: policy, log: log,
		guard: nopGuard{}, obs: nopObserver{}, locales: englishOnly{}, events: nopEvents{}}
}

// WithEvents sets where verification events go (WEBHOOK_URL).
func (s *Service) WithEvents(e Events) *Service { s.events = e; return s }

// WithLocales sets the languages a verification may take; without, only
// English.
func (s *Service) WithLocales(l Locales) *Service { s.locales = l; return s }

// WithGuard sets the cross-number limits.
func (s *Service) WithGuard(g Guard) *Service { s.guard = g; return s }

// WithObserver sets the counters.
func (s *Service) WithObserver(o Observer) *Service { s.obs = o; return s }

// Policy returns the rules in force.
func (s *Service) Policy() Policy { return s.policy }

// Start sends a code to a number: a new verification, or a resend of the
// pending one's same code. created tells which.
func (s *Service) Start(ctx context.Context, to, channel string) (v Verification, created bool, err error) {
	return s.Send(ctx, SendRequest{To: to, Channel: channel})
}

// SendRequest asks for a code to be sent.
type SendRequest struct {
	To string
	// Channel is sms (the default), whatsapp or call. A resend may take
	// another channel than the first send: same verification, same code.
	Channel string
	// Locale is a BCP 47 tag ("" chooses by the number's country).
	Locale string
	// Brand names the service in the message; "" is OTP_BRAND, anything
	// else must be one of OTP_BRANDS: free text never reaches a message.
	Brand string
	// AppHash adds Android's SMS Retriever line (SMS only).
	AppHash string
	// Workflow, for a new verification, is its fallback plan: channels to
	// try in order with the same code (its first is Channel's place).
	// ChannelTimeout is how long each waits for approval (0: the default).
	Workflow       []string
	ChannelTimeout time.Duration
	Origin
}

// Workflow bounds: a step waits between 15 seconds and 15 minutes.
const (
	MinChannelTimeout = 15 * time.Second
	MaxChannelTimeout = 15 * time.Minute
)

// plan is the workflow of a send request: its channels (at least one) and
// the step timeout.
func (s *Service) plan(r SendRequest) ([]string, time.Duration, error) {
	steps := r.Workflow
	switch {
	case len(steps) > 0:
		if r.Channel != "" && r.Channel != steps[0] {
			return nil, 0, &InputError{Detail: "channel, when given with a workflow, must be its first step's"}
		}
	case r.Channel != "":
		steps = []string{r.Channel}
	case len(s.policy.Workflow) > 0:
		steps = s.policy.Workflow
	default:
		steps = []string{ChannelSMS}
	}
	if len(steps) > MaxWorkflowSteps {
		return nil, 0, &InputError{Detail: fmt.Sprintf("a workflow has 1 to %d steps", MaxWorkflowSteps)}
	}
	for _, c := range steps {
		if !s.policy.channelEnabled(c) {
			return nil, 0, &ChannelError{Channel: c, Enabled: s.policy.enabledChannels()}
		}
	}
	timeout := cmp.Or(r.ChannelTimeout, s.policy.ChannelTimeout, time.Minute)
	if timeout < MinChannelTimeout || timeout > MaxChannelTimeout {
		return nil, 0, &InputError{Detail: "channelTimeout is 15 to 900 seconds"}
	}
	return steps, timeout, nil
}

// appHash is Android's SMS Retriever hash: 11 characters of base64.
var appHash = regexp.MustCompile(`^[A-Za-z0-9+/]{11}$`)

// ValidAppHash reports whether s is an Android SMS Retriever app hash.
func ValidAppHash(s string) bool { return appHash.MatchString(s) }

// BrandKey is what a verification stores for the brand its request named:
// 8 hex digits of its SHA-256, short whatever the brand's script, and
// meaningless to a worker that does not have the brand in its own list.
func BrandKey(brand string) string {
	sum := sha256.Sum256([]byte(brand))
	return hex.EncodeToString(sum[:4])
}

func brandKey(brand string) string {
	if brand == "" {
		return ""
	}
	return BrandKey(brand)
}

// Send is Start with the request's origin, so per-IP and per-key limits
// apply.
func (s *Service) Send(ctx context.Context, r SendRequest) (v Verification, created bool, err error) {
	steps, timeout, err := s.plan(r)
	if err != nil {
		return v, false, err
	}
	channel := steps[0]
	var workflow []string
	if len(steps) > 1 || len(r.Workflow) > 0 {
		workflow = steps
	}
	if workflow == nil && r.ChannelTimeout != 0 {
		return v, false, &InputError{Detail: "channelTimeout needs a workflow"}
	}
	if r.Brand != "" && !s.policy.Brands[r.Brand] {
		return v, false, &InputError{Detail: "brand must be one of OTP_BRANDS"}
	}
	if r.AppHash != "" && (channel != ChannelSMS || !appHash.MatchString(r.AppHash)) {
		return v, false, &InputError{Detail: "appHash is 11 characters of base64, and for sms only"}
	}
	locale := ""
	if r.Locale != "" {
		var ok bool
		if locale, ok = s.locales.Match(r.Locale); !ok {
			return v, false, &InputError{Detail: fmt.Sprintf("locale %q is not supported", r.Locale)}
		}
	}
	phone, err := ParsePhone(r.To, s.policy.DefaultRegion)
	if err != nil {
		return v, false, err
	}
	if len(s.policy.AllowedCountries) > 0 && !s.policy.AllowedCountries[phone.Region] {
		s.obs.Rejected("country_not_allowed", phone.CountryCode)
		return v, false, ErrCountryNotAllowed
	}
	if channel == ChannelCall && len(s.policy.VoiceAllowedCountries) > 0 && !s.policy.VoiceAllowedCountries[phone.Region] {
		s.obs.Rejected("voice_country_not_allowed", phone.CountryCode)
		return v, false, ErrCountryNotAllowed
	}
	if s.policy.RejectNonMobile && !phone.Mobile() {
		s.obs.Rejected("not_mobile", phone.CountryCode)
		return v, false, ErrNotMobile
	}
	// The country's language is for a new verification: a resend that names
	// no locale keeps the one the verification has.
	defaultLocale := s.locales.ForRegion(phone.Region)
	defer func() { s.observeRefusal(err, phone.CountryCode) }()
	tag := s.codec.Tag(phone.E164)
	id, err := s.codec.NewID(tag)
	if err != nil {
		return v, false, err
	}
	code, err := s.codec.NewCode()
	if err != nil {
		return v, false, err
	}
	sealed, err := s.codec.Seal(id, code)
	if err != nil {
		return v, false, err
	}
	// One round trip for the cross-number limits and the send script
	// (they live in different Cluster slots, so they cannot be one script);
	// the enqueue is the second. In the rare case that the limits refuse
	// while the send script went through, the send is undone.
	pipe := s.store.Pipeline()
	scope := SendScope{Origin: r.Origin, Tag: tag, Region: phone.Region, Channel: channel,
		CallingCode: phone.CountryCode, Prefix: phone.Prefix(s.policy.PrefixDigits)}
	guardDone := s.guard.QueueSend(ctx, pipe, scope)
	startDone := s.store.QueueStart(ctx, pipe, StartParams{
		Tag: tag, NewID: id, To: phone.E164, Channel: channel,
		Locale: locale, DefaultLocale: defaultLocale, Brand: brandKey(r.Brand), AppHash: r.AppHash,
		MAC: s.codec.MAC(tag, code), Sealed: sealed,
		TTL: s.policy.TTL, Retention: s.policy.Retention,
		MaxSends: s.policy.MaxSends, Cooldown: s.policy.Cooldown,
		SendCap: s.policy.SendCap, FailureLock: s.policy.FailureLock,
		Workflow: workflow, ChannelTimeout: timeout, Origin: r.Origin,
	})
	_, _ = pipe.Exec(ctx) // each command's error is read below
	res, err := startDone()
	refund, gerr := guardDone()
	if gerr != nil {
		if err == nil {
			s.undo(ctx, func(ctx context.Context) error { return s.store.Rollback(ctx, tag, res) })
		}
		return v, false, gerr
	}
	if isLimit(err) {
		s.undo(ctx, refund)
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			// The script may have run with only its reply lost: remove what
			// it would have created, or the client's retry meets a cooldown
			// on a verification whose SMS was never queued.
			s.undo(ctx, func(ctx context.Context) error { return s.store.RollbackCreated(ctx, tag, id) })
		}
		return v, false, err
	}
	v = res.Verification
	job := SendJob{ID: v.ID, Attempt: v.SendAttempts, Channel: channel, ValidFor: v.ExpiresAt.Sub(v.LastSendAt)}
	if err := s.queue.EnqueueSend(ctx, job); err != nil {
		// The client gets 503 and may retry: leave no half-made send behind.
		s.undo(ctx, func(ctx context.Context) error { return s.store.Rollback(ctx, tag, res) })
		return Verification{}, false, fmt.Errorf("%w: enqueue: %w", ErrUnavailable, err)
	}
	if res.Created && v.Workflow != nil {
		// The first step's timeout moves the workflow on: without it, a
		// step that nobody reports on would hold the workflow for good.
		if err := s.queue.ScheduleStep(ctx, v.ID, 1, time.Duration(v.Workflow.ChannelTimeout)*time.Second); err != nil {
			s.undo(ctx, func(ctx context.Context) error { return s.store.Rollback(ctx, tag, res) })
			return Verification{}, false, fmt.Errorf("%w: schedule step 1: %w", ErrUnavailable, err)
		}
	}
	s.obs.Sent(channel, phone.CountryCode, !res.Created)
	if res.Created {
		s.scheduleExpiry(ctx, v)
		if v.Workflow != nil {
			s.obs.WorkflowStep(v.Channel, StepStarted)
			s.emit(ctx, EventStepStarted, v, 1, 1)
		}
	}
	return v, res.Created, nil
}

func (s *Service) observeRefusal(err error, callingCode int) {
	var le *LimitError
	if errors.As(err, &le) {
		s.obs.Rejected(le.Reason, callingCode)
	}
}

// undo runs a rollback on a fresh context: the request's may be what failed.
func (s *Service) undo(ctx context.Context, rollback func(context.Context) error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rollback(rctx); err != nil {
		s.log.ErrorContext(ctx, "undo after a refused or failed request", "err", err)
	}
}

// CheckRequest names a verification by ID or by number, with the code typed.
type CheckRequest struct {
	ID, To, Code string
	Origin
}

// Check tests a code. valid is true exactly once per verification.
func (s *Service) Check(ctx context.Context, r CheckRequest) (v Verification, valid bool, err error) {
	p := CheckParams{MaxChecks: s.policy.MaxChecks, FailureLock: s.policy.FailureLock}
	switch {
	case r.ID != "" && r.To != "":
		return v, false, &InputError{Detail: "give either id or to, not both"}
	case r.ID != "":
		tag, ok := TagOfID(r.ID)
		if !ok {
			return v, false, ErrNotFound
		}
		p.Tag, p.ID = tag, r.ID
	case r.To != "":
		phone, err := ParsePhone(r.To, s.policy.DefaultRegion)
		if err != nil {
			return v, false, err
		}
		p.Tag, p.To = s.codec.Tag(phone.E164), phone.E164
	default:
		return v, false, &InputError{Detail: "id or to is required"}
	}
	if !s.codec.ValidCodeFormat(r.Code) {
		return v, false, &InputError{Detail: fmt.Sprintf("code must be %d digits", s.codec.Length())}
	}
	refund, err := s.guard.TakeCheck(ctx, r.Origin)
	if err != nil {
		s.observeRefusal(err, callingCode(r.To, p.To))
		return v, false, err
	}
	p.MAC = s.codec.MAC(p.Tag, r.Code)
	cr, err := s.store.Check(ctx, p)
	v, outcome := cr.Verification, cr.Outcome
	if err == nil && outcome == CheckApproved {
		// Only a right code is free. Every other answer costs the origin
		// alike: a wrong code, and also an unknown or finished verification,
		// so that neither the budget nor the time an answer takes tells an
		// end user whether a number has a verification. A timeout may have
		// run the check: it is not refunded either.
		s.undo(ctx, refund)
	}
	cc := callingCode(v.To, p.To)
	if err != nil {
		s.observeRefusal(err, cc)
		var fe *FinishedError
		if errors.As(err, &fe) && fe.Status == StatusExpired {
			s.obs.Expired(v.Channel, cc)
		}
		return v, false, err
	}
	if cr.Locked {
		s.emit(ctx, EventNumberLocked, v, 0, 0)
	}
	if outcome == CheckApproved {
		s.obs.Approved(v.Channel, cc)
		if st := approvingStep(v); st != nil {
			s.obs.ApprovedByStep(st.Step, st.Channel, cc)
			s.obs.WorkflowStep(st.Channel, StepApproved)
		}
		s.emit(ctx, EventApproved, v, 0, 0)
		return v, true, nil
	}
	s.obs.CheckFailed(v.Channel, cc)
	if outcome == CheckExhausted {
		s.stopped(v)
		s.emit(ctx, EventMaxAttempts, v, 0, 0)
	}
	return v, false, nil
}

func isLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

// callingCode of the first E.164 number given; 0 when unknown.
func callingCode(numbers ...string) int {
	for _, n := range numbers {
		if cc := CallingCode(n); cc != 0 {
			return cc
		}
	}
	return 0
}

// Get returns a verification by id.
func (s *Service) Get(ctx context.Context, id string) (Verification, error) {
	tag, ok := TagOfID(id)
	if !ok {
		return Verification{}, ErrNotFound
	}
	return s.store.Get(ctx, tag, id)
}

// Cancel ends a pending verification.
func (s *Service) Cancel(ctx context.Context, id string) (Verification, error) {
	tag, ok := TagOfID(id)
	if !ok {
		return Verification{}, ErrNotFound
	}
	v, now, err := s.store.Cancel(ctx, tag, id)
	if now {
		s.stopped(v)
		s.emit(ctx, EventCanceled, v, 0, 0)
	}
	return v, err
}

// ClaimIdempotency, KeepAnswer and ForgetIdempotency serve the API's
// Idempotency-Key (idempotency.go).
func (s *Service) ClaimIdempotency(ctx context.Context, scope, key string, fp Fingerprint) (*Idempotency, IdempotencyState, Answer, error) {
	return s.store.ClaimIdempotency(ctx, scope, key, fp)
}

func (s *Service) KeepAnswer(ctx context.Context, id *Idempotency, a Answer) (bool, error) {
	return s.store.Keep(ctx, id, a)
}

func (s *Service) ForgetIdempotency(ctx context.Context, id *Idempotency) error {
	return s.store.Forget(ctx, id)
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// DeliveryReport is the gateway's word on one send attempt's SMS.
type DeliveryReport struct {
	ID         string
	Attempt    int
	MessageSID string
	Status     DeliveryStatus
	ErrorCode  int
	// Channel is what the report is about (the callback's own fields say:
	// a CallSid or a MessageSid), and RawStatus Twilio's word for it.
	Channel   string
	RawStatus string
}

// DeliveryReport records a status callback. Reports that are late, out of
// order or about another message are accepted and ignored: the gateway
// need not retry them.
func (s *Service) DeliveryReport(ctx context.Context, r DeliveryReport) error {
	tag, ok := TagOfID(r.ID)
	if !ok {
		return &InputError{Detail: "unknown verification id"}
	}
	recorded, err := s.store.RecordCallback(ctx, tag, r.ID, r.Attempt, AttemptUpdate{
		Status: r.Status, MessageSID: r.MessageSID, ErrorCode: r.ErrorCode, RawStatus: r.RawStatus, Channel: r.Channel,
	})
	if recorded {
		// Only reports that moved an attempt's status: an answered call
		// reports delivered twice (in-progress, completed), a WhatsApp
		// message delivered then read, a retried callback again. What the
		// report sets off must not be cut short by Twilio's request ending.
		s.obs.DeliveryReported(r.Channel, r.Status)
		s.AttemptEnded(context.WithoutCancel(ctx), r.ID, r.Attempt, r.Status, cmp.Or(r.RawStatus, string(r.Status)))
	}
	return err
}
