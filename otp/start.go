package otp

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// StartRequest asks for a code to be sent: a new verification, or a
// resend of the pending one's same code.
type StartRequest struct {
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
	// Origin is who asks, for the per-IP and per-key limits.
	Origin
}

// Workflow bounds: a step waits between 15 seconds and 15 minutes.
const (
	MinChannelTimeout = 15 * time.Second
	MaxChannelTimeout = 15 * time.Minute
)

// plan is what a start request asks for, checked: its channels (the
// first is this send's), whether they are a workflow, the step timeout and
// the locale.
type plan struct {
	steps    []string
	workflow []string // nil: no workflow
	timeout  time.Duration
	locale   string
}

// plan checks a start request's own fields, before anything is read.
func (s *Service) plan(r StartRequest) (plan, error) {
	p := plan{steps: r.Workflow}
	switch {
	case len(p.steps) > 0:
		if r.Channel != "" && r.Channel != p.steps[0] {
			return p, &InputError{Detail: "channel, when given with a workflow, must be its first step's"}
		}
	case r.Channel != "":
		p.steps = []string{r.Channel}
	case len(s.policy.Workflow) > 0:
		p.steps = s.policy.Workflow
	default:
		p.steps = []string{ChannelSMS}
	}
	if len(p.steps) > MaxWorkflowSteps {
		return p, &InputError{Detail: fmt.Sprintf("a workflow has 1 to %d steps", MaxWorkflowSteps)}
	}
	for _, c := range p.steps {
		if !s.policy.channelEnabled(c) {
			return p, &ChannelError{Channel: c, Enabled: s.policy.enabledChannels()}
		}
	}
	p.timeout = cmp.Or(r.ChannelTimeout, s.policy.ChannelTimeout, time.Minute)
	if p.timeout < MinChannelTimeout || p.timeout > MaxChannelTimeout {
		return p, &InputError{Detail: "channelTimeout is 15 to 900 seconds"}
	}
	if len(p.steps) > 1 || len(r.Workflow) > 0 {
		p.workflow = p.steps
	}
	if p.workflow == nil && r.ChannelTimeout != 0 {
		return p, &InputError{Detail: "channelTimeout needs a workflow"}
	}
	if r.Brand != "" && !s.policy.Brands[r.Brand] {
		return p, &InputError{Detail: "brand must be one of OTP_BRANDS"}
	}
	if r.AppHash != "" && (p.steps[0] != ChannelSMS || !appHash.MatchString(r.AppHash)) {
		return p, &InputError{Detail: "appHash is 11 characters of base64, and for sms only"}
	}
	if r.Locale != "" {
		var ok bool
		if p.locale, ok = s.d.Locales.Match(r.Locale); !ok {
			return p, &InputError{Detail: fmt.Sprintf("locale %q is not supported", r.Locale)}
		}
	}
	return p, nil
}

// admit applies the rules on where a code may go: the countries, calls'
// countries, the number types never sent to (unless safe-listed), and
// mobile numbers only. All of them before any limit is spent.
func (s *Service) admit(ctx context.Context, phone Phone, channel string) error {
	if len(s.policy.AllowedCountries) > 0 && !s.policy.AllowedCountries[phone.Region] {
		s.d.Observer.Rejected(LimitReason(ReasonCountry), phone.CountryCode)
		return ErrCountryNotAllowed
	}
	if channel == ChannelCall && len(s.policy.VoiceAllowedCountries) > 0 && !s.policy.VoiceAllowedCountries[phone.Region] {
		s.d.Observer.Rejected("voice_country_not_allowed", phone.CountryCode)
		return ErrCountryNotAllowed
	}
	if len(s.policy.BlockedNumberTypes) == 0 && !s.policy.RejectNonMobile {
		return nil
	}
	t := phone.Type()
	if err := s.typeAllowed(ctx, phone, t); err != nil {
		return err
	}
	if s.policy.RejectNonMobile && t != numberTypes[phonenumbers.MOBILE] && t != numberTypes[phonenumbers.FIXED_LINE_OR_MOBILE] {
		s.d.Observer.Rejected("not_mobile", phone.CountryCode)
		return ErrNotMobile
	}
	return nil
}

// typeAllowed refuses a number of a type in BLOCKED_NUMBER_TYPES, unless
// the safe list names it.
func (s *Service) typeAllowed(ctx context.Context, phone Phone, t NumberType) error {
	if !s.policy.BlockedNumberTypes[t] {
		return nil
	}
	if ok, err := s.safe(ctx, phone.E164); ok || err != nil {
		return err
	}
	s.d.Observer.Rejected(LimitNumberType, phone.CountryCode)
	return &NumberTypeError{Type: t}
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

// Start sends a code to a number: a new verification, or a resend of the
// pending one's same code; created tells which. The per-IP and per-key
// limits apply to r.Origin.
func (s *Service) Start(ctx context.Context, r StartRequest) (v Verification, created bool, err error) {
	p, err := s.plan(r)
	if err != nil {
		return v, false, err
	}
	phone, err := ParsePhone(r.To, s.policy.DefaultRegion)
	if err != nil {
		return v, false, err
	}
	channel := p.steps[0]
	if err := s.admit(ctx, phone, channel); err != nil {
		return v, false, err
	}
	defer func() { s.observeRefusal(err, phone.CountryCode) }()
	params, err := s.startParams(r, p, phone)
	if err != nil {
		return v, false, err
	}
	res, err := s.d.Store.Start(ctx, params)
	s.fraudSeen(ctx, verdictOf(res.Fraud, err))
	if err != nil {
		return v, false, err
	}
	v = res.Verification
	if err := s.handOver(ctx, res, channel); err != nil && !s.underway(ctx, res.Undo, err) {
		return Verification{}, false, err
	}
	s.d.Observer.Sent(channel, phone.CountryCode, !res.Created)
	if res.Created {
		s.scheduleExpiry(ctx, v)
		if v.Workflow != nil {
			s.d.Observer.WorkflowStep(v.Channel, StepStarted)
			s.emit(ctx, EventStepStarted, v, 1, 1)
		}
	}
	return v, res.Created, nil
}

// startParams draws the code and a new id, and says what the store is to
// do with them.
func (s *Service) startParams(r StartRequest, p plan, phone Phone) (StartParams, error) {
	tag := s.d.Codec.Tag(phone.E164)
	id, err := s.d.Codec.NewID(tag)
	if err != nil {
		return StartParams{}, err
	}
	code, err := s.d.Codec.NewCode()
	if err != nil {
		return StartParams{}, err
	}
	sealed, err := s.d.Codec.Seal(id, code)
	if err != nil {
		return StartParams{}, err
	}
	channel := p.steps[0]
	return StartParams{
		Tag: tag, NewID: id, To: phone.E164, Channel: channel,
		// The country's language is for a new verification: a resend that
		// names no locale keeps the one the verification has.
		Locale: p.locale, DefaultLocale: s.d.Locales.ForRegion(phone.Region),
		Brand: brandKey(r.Brand), AppHash: r.AppHash,
		MAC: s.d.Codec.MAC(tag, code), Sealed: sealed,
		TTL: s.policy.TTL, Retention: s.policy.Retention,
		MaxSends: s.policy.MaxSends, Cooldown: s.policy.Cooldown,
		SendCap: s.policy.SendCap, FailureLock: s.policy.FailureLock,
		Workflow: p.workflow, ChannelTimeout: p.timeout, Origin: r.Origin,
		Scope: s.sendScope(r.Origin, tag, phone, channel),
	}, nil
}

// sendScope is what a send's cross-number limits and fraud guard key on.
func (s *Service) sendScope(o Origin, tag string, phone Phone, channel string) SendScope {
	return SendScope{Origin: o, Tag: tag, Region: phone.Region, Channel: channel,
		CallingCode: phone.CountryCode, Prefix: phone.Prefix(s.policy.PrefixDigits),
		Number: phone.E164, Safe: s.policy.SafeList.Has(phone.E164)}
}

// handOver queues a started send (queueStart) and, with Replication,
// holds it until replicas have it. It waits twice: before the enqueue, so
// that a replica already down or behind refuses the send while no task
// exists that a worker could deliver before the undo; and after it, so
// that the 202 stands for the task too. A failure of either is undone by
// the caller like a failed enqueue: a task already queued then finds its
// attempt rolled back when the worker claims it; one a worker claimed
// during the second wait stands (underway).
func (s *Service) handOver(ctx context.Context, res StartResult, channel string) error {
	if err := s.replicated(ctx, res.Verification.ID); err != nil {
		return err
	}
	if err := s.queueStart(ctx, res, channel); err != nil {
		return err
	}
	return s.replicated(ctx, res.Verification.ID)
}

// underway undoes a start its hand-over failed (err), and reports whether
// it stands all the same: a worker claimed its send while the replicas
// were awaited, so the code is on its way and a 503 would be a lie (the
// client would retry, and the user get a second code).
func (s *Service) underway(ctx context.Context, undo func(context.Context) error, err error) bool {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	uerr := undo(rctx)
	switch {
	case errors.Is(uerr, ErrSendUnderway):
		s.d.Log.WarnContext(ctx, "send kept although its hand-over failed: a worker already has it", "err", err)
		return true
	case uerr != nil:
		s.d.Log.ErrorContext(ctx, "undo after a refused or failed request", "err", uerr)
	}
	return false
}

// replicated waits for the replicas, when there is a Replication; a
// refusal is logged (the api's answer is a 503 without the why).
func (s *Service) replicated(ctx context.Context, id string) error {
	if s.d.Replication == nil {
		return nil
	}
	err := s.d.Replication.Wait(ctx, id)
	if errors.Is(err, ErrNotReplicated) {
		s.d.Log.WarnContext(ctx, "send refused: its writes did not reach REDIS_MIN_REPLICAS replicas in time; undone", "err", err)
	}
	return err
}

// queueStart hands a started send to the worker and, for a new workflow,
// schedules its first step's timeout: without it, a step that nobody
// reports on would hold the workflow for good.
func (s *Service) queueStart(ctx context.Context, res StartResult, channel string) error {
	v := res.Verification
	job := DeliveryJob{ID: v.ID, Attempt: v.SendAttempts, Channel: channel, ValidFor: v.ExpiresAt.Sub(v.LastSendAt)}
	if err := s.d.Queue.EnqueueDelivery(ctx, job); err != nil {
		return fmt.Errorf("%w: enqueue: %w", ErrUnavailable, err)
	}
	if res.Created && v.Workflow != nil {
		if err := s.d.Queue.ScheduleStep(ctx, v.ID, 1, time.Duration(v.Workflow.ChannelTimeout)*time.Second); err != nil {
			return fmt.Errorf("%w: schedule step 1: %w", ErrUnavailable, err)
		}
	}
	return nil
}
