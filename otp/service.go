package otp

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Policy holds the configurable rules of the lifecycle.
type Policy struct {
	// Tenant names the app (TENANTS_FILE) whose verifications this service
	// keeps; "" is the default one, built from the environment. Each tenant
	// has a Service of its own, over a store, queue, limits and events that
	// see only its verifications; what guards the phone's owner (the
	// wrong-code lock, the sends per number, the fraud guard) is shared.
	Tenant string

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
	// BlockedNumberTypes never get a code (BLOCKED_NUMBER_TYPES), unless
	// the safe list names the number.
	BlockedNumberTypes map[NumberType]bool
	// Fraud is FRAUD_GUARD ("" is off: the store then judges nothing);
	// SafeList is FRAUD_SAFE_LIST, the entries that no API call removes.
	Fraud    FraudMode
	SafeList SafeList

	// Channels are the enabled channels (CHANNELS); empty: SMS only.
	Channels map[string]bool
	// VoiceAllowedCountries narrows calls, the toll-fraud channel, to these
	// regions on top of AllowedCountries; empty: no narrowing.
	VoiceAllowedCountries map[string]bool
	// Brand names the service in a message whose request named none
	// (OTP_BRAND); Brands are the others a request may name (OTP_BRANDS).
	Brand  string
	Brands map[string]bool

	// Workflow is the default fallback workflow of a request that names
	// neither a workflow nor a channel (OTP_WORKFLOW; empty: SMS alone),
	// and ChannelTimeout how long a step waits for approval before the
	// next (OTP_CHANNEL_TIMEOUT).
	Workflow       []string
	ChannelTimeout time.Duration

	// StatusCallback is the absolute URL of the api's status callback
	// route ("" asks the gateway for no reports); a delivery adds the
	// verification and attempt to it.
	StatusCallback string
	// Prices estimate what each send costs (CHANNEL_PRICES; empty: no
	// spend is counted).
	Prices Prices
	// TelegramCallback is the absolute URL of the api's Telegram report
	// route ("" asks Telegram for no reports).
	TelegramCallback string
	// StaleClaim is how old a delivery's claim must be before another try
	// presumes its owner died mid-request and sends again. It must exceed
	// the gateway's HTTP timeout, so a slow but live request is never
	// duplicated. 0 is 15 seconds.
	StaleClaim time.Duration
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
	for _, c := range Channels {
		if p.channelEnabled(c) {
			out = append(out, c)
		}
	}
	return out
}

// Deps are what a Service works through. Codec and Store are required;
// what is nil does nothing (no limits, no counts, no events), speaks
// English only, or (Sender, Texts) cannot deliver.
type Deps struct {
	Codec   *Codec
	Store   Store
	Queue   Queue
	Limiter Limiter
	// Fraud is the fraud guard's store (nil: no guard, no safe list
	// beyond FRAUD_SAFE_LIST).
	Fraud    FraudGuard
	Events   Events
	Observer Observer
	Locales  Locales
	// Replication, when set, holds a start's answer until replicas have
	// its writes (REDIS_MIN_REPLICAS); nil: a start does not wait.
	Replication Replication
	// The worker's: the gateway, the texts, the rate across workers, and
	// what counts its deliveries.
	Sender    Sender
	Revoker   Revoker // nil: nothing is taken back
	Texts     Texts
	Throttle  Throttle
	Delivered DeliveryObserver
	// Now is this host's clock (time.Now), for durations measured from a
	// claim on and for events' times; the code's expiry is the store's
	// to judge.
	Now func() time.Time
	Log *slog.Logger
}

// Service is the verification lifecycle. The api and the worker enter the
// domain only through it: the api starts, checks, reads and cancels, and
// hears the gateway's reports; the worker delivers send attempts and moves
// workflows on.
type Service struct {
	d      Deps
	policy Policy
	brands map[string]string // BrandKey → brand, for the worker's messages
}

// NewService wires a service.
func NewService(policy Policy, d Deps) *Service {
	if policy.PrefixDigits == 0 {
		policy.PrefixDigits = 3
	}
	if policy.StaleClaim <= 0 {
		policy.StaleClaim = 15 * time.Second
	}
	if d.Limiter == nil {
		d.Limiter = nopLimiter{}
	}
	if d.Events == nil {
		d.Events = nopEvents{}
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Delivered == nil {
		d.Delivered = nopObserver{}
	}
	if d.Locales == nil {
		d.Locales = englishOnly{}
	}
	if d.Throttle == nil {
		d.Throttle = nopThrottle{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	brands := map[string]string{}
	for b := range policy.Brands {
		brands[BrandKey(b)] = b
	}
	brands[BrandKey(policy.Brand)] = policy.Brand
	return &Service{d: d, policy: policy, brands: brands}
}

// Policy returns the rules in force.
func (s *Service) Policy() Policy { return s.policy }

// Get returns a verification by id.
func (s *Service) Get(ctx context.Context, id string) (Verification, error) {
	if _, ok := TagOfID(id); !ok {
		return Verification{}, ErrNotFound
	}
	return s.d.Store.Get(ctx, id)
}

// Cancel ends a pending verification. A canceled one answers alike, with
// changed false: this call ended nothing (the api keeps no
// Idempotency-Key answer for it).
func (s *Service) Cancel(ctx context.Context, id string) (v Verification, changed bool, err error) {
	if _, ok := TagOfID(id); !ok {
		return Verification{}, false, ErrNotFound
	}
	v, now, err := s.d.Store.Cancel(ctx, id)
	if now {
		s.stopped(v)
		s.emit(ctx, EventCanceled, v, 0, 0)
		s.revokeUnread(ctx, v)
	}
	return v, now, err
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.d.Store.Ping(ctx); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

func (s *Service) observeRefusal(err error, callingCode int) {
	var le *LimitError
	if errors.As(err, &le) {
		s.d.Observer.Rejected(le.Reason, callingCode)
	}
}

// undo runs a rollback on a fresh context: the request's may be what failed.
func (s *Service) undo(ctx context.Context, rollback func(context.Context) error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rollback(rctx); err != nil {
		s.d.Log.ErrorContext(ctx, "undo after a refused or failed request", "err", err)
	}
}
