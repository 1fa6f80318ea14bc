package otp

import (
	"context"
	"strings"
	"time"
)

// The service's ports: what it asks of the world, each an interface that a
// package of its own implements (otp/redisstore, tasks, twilio,
// internal/messages, internal/metrics), so that the rules here know no
// Redis, queue or gateway.

// DeliveryJob asks the worker to deliver send attempt Attempt of a
// verification. It carries no code: the worker reads the sealed code from
// the store.
type DeliveryJob struct {
	ID      string
	Attempt int
	// Channel is for people reading the queue; the worker reads the
	// attempt's channel from the store.
	Channel string
	// ValidFor is the code's life left when the send was requested, by the
	// store's clock: a duration, which no host's clock offset can stretch.
	ValidFor time.Duration
}

// Queue hands jobs to the worker. Enqueueing the same (ID, Attempt), or
// scheduling the same step, twice must be harmless.
type Queue interface {
	EnqueueDelivery(ctx context.Context, job DeliveryJob) error
	// ScheduleStep has the worker move verification id's workflow on from
	// step after in, unless something moved it already (StepTimedOut).
	ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error
	// ScheduleBlockEnd has the worker report the fraud block named name,
	// due to end at until, as ended then (Service.FraudBlockEnded).
	ScheduleBlockEnd(ctx context.Context, name string, until time.Time) error
	// EnqueueRevoke has the worker take back a message the gateway still
	// holds for its user (Service.Revoke); best effort.
	EnqueueRevoke(ctx context.Context, channel, messageSID string) error
}

// Replication makes a send durable before it is acknowledged
// (REDIS_MIN_REPLICAS): Wait returns nil once enough replicas hold every
// write this process made so far on the primary of verification id (its
// record, and the queue's task for it, queued before the call), or an
// ErrNotReplicated when too few did in time. A nil Replication waits for
// nothing.
type Replication interface {
	Wait(ctx context.Context, id string) error
}

// Revoker takes back a message a gateway has not shown yet (Telegram's
// revokeVerificationMessage), so an unread code of a verification that
// ended disappears.
type Revoker interface {
	Revoke(ctx context.Context, channel, messageSID string) error
}

// Origin is who asks for a send or a check, as far as the caller knows.
type Origin struct {
	// ClientIP is the end user's IP as the calling backend saw it ("" when
	// not given); limits keyed on it apply only when it is given.
	ClientIP string
	// APIKeyID names the API key used, never the key itself.
	APIKeyID string
}

// SendScope is what the cross-number limits key on.
type SendScope struct {
	Origin
	Tag         string // the number's hash tag (which part of split limits)
	Region      string // ISO 3166 region of the number
	CallingCode int
	Prefix      string // the number minus its last digits
	Channel     string // calls have a budget of their own
	// Number is the number (E.164), for the fraud guard's safe list; Safe
	// says FRAUD_SAFE_LIST names it, so the guard spares it unasked.
	Number string
	Safe   bool
}

// Limiter applies the limits that span many numbers (end-user IP, API key,
// number prefix, country and global budgets). A refusal is a *LimitError;
// what was taken comes with the Refund that gives exactly that back.
// (Store.Start and Store.Check take a new send's and a check's limits
// themselves, in the same round trip.)
type Limiter interface {
	// TakeSend takes one send from every limit of s, all or none, and has
	// the fraud guard judge it: a workflow step's, before it starts. Its
	// Refund is for a step that the per-number rules then refused: no
	// message, no cost. A guard's refusal is a *LimitError (LimitFraud)
	// with the verdict; a shadow verdict comes with the grant.
	TakeSend(ctx context.Context, s SendScope) (SendGrant, error)
}

// SendGrant is a send that the limits and the guard let through: what
// gives back what was taken, and what the guard made of it.
type SendGrant struct {
	Refund Refund
	Fraud  FraudVerdict
}

// Refund gives back what a Limiter took for one request.
type Refund func(ctx context.Context) error

func noRefund(context.Context) error { return nil }

// Throttle spaces deliveries out across every worker (SMS_RATE_LIMIT):
// Take answers how long to wait before this one may go (0: now).
type Throttle interface {
	Take(ctx context.Context) (wait time.Duration, err error)
}

// Observer counts what operators watch: sends, approvals, failed checks
// and refusals by limit, per channel and country calling code (bounded
// cardinality: never a number). The approval-to-send ratio per country is
// the SMS pumping alarm; per channel, it says which channel works where.
type Observer interface {
	Sent(channel string, callingCode int, resend bool)
	Approved(channel string, callingCode int)
	CheckFailed(channel string, callingCode int)
	Rejected(reason LimitReason, callingCode int)
	Expired(channel string, callingCode int)
	DeliveryReported(channel string, status DeliveryStatus)
	// WorkflowStep counts a workflow step reaching status (started,
	// failed, timed_out, skipped, approved, stopped) on its channel.
	WorkflowStep(channel string, status StepStatus)
	// ApprovedByStep counts an approval by the workflow step that
	// converted: which channel gets codes through where.
	ApprovedByStep(step int, channel string, callingCode int)
	// FraudBlocked counts a block the guard made (scope prefix or
	// country), FraudRefused a send it refused (shadow: would have), and
	// FraudUnblocked a block's end.
	FraudBlocked(scope string, shadow bool)
	FraudRefused(scope string, shadow bool)
	FraudUnblocked(scope string, why FraudUnblock)
	// Refunded counts back the estimated price of a send its gateway
	// refunded (Telegram's, not delivered in its ttl), in currency.
	Refunded(channel string, callingCode int, currency string, price float64)
}

// DeliveryObserver counts what the worker does with each send attempt.
type DeliveryObserver interface {
	// Delivery counts one try's outcome (a DeliveryOutcome); channel is ""
	// when the try did not get as far as reading the attempt.
	Delivery(channel string, outcome DeliveryOutcome, errorCode int)
	// Accepted observes the time from the send request to the gateway's
	// acceptance.
	Accepted(channel string, sinceQueued time.Duration)
	// Spent counts the estimated price of a send the gateway accepted
	// (CHANNEL_PRICES), in currency.
	Spent(channel string, callingCode int, currency string, price float64)
}

// DeliveryOutcome is how one try of a send attempt ended, as the worker's
// metrics count it.
type DeliveryOutcome string

const (
	OutcomeAccepted            DeliveryOutcome = "accepted"
	OutcomePermanentError      DeliveryOutcome = "permanent_error"
	OutcomeTransientError      DeliveryOutcome = "transient_error"
	OutcomeSkipped             DeliveryOutcome = "skipped"
	OutcomeDeferred            DeliveryOutcome = "deferred"
	OutcomeDuplicateSuppressed DeliveryOutcome = "duplicate_suppressed"
	OutcomeIntegrityError      DeliveryOutcome = "integrity_error"
	// OutcomeAccountError: the gateway refused our account (a bad token,
	// no balance), which an alert watches.
	OutcomeAccountError DeliveryOutcome = "account_error"
)

// Locales chooses the language of a verification: Match finds the locale
// for a BCP 47 tag a client asked for (ok false when none is spoken), and
// ForRegion the locale of a number's country when none was asked for.
type Locales interface {
	Match(tag string) (locale string, ok bool)
	ForRegion(region string) string
}

// Texts writes a code's message or call in a locale.
type Texts interface {
	Write(p TextParams) Text
}

// TextParams is what one message says.
type TextParams struct {
	Locale, Channel, Brand, Code string
	// AppHash adds Android's SMS Retriever line (SMS only).
	AppHash string
}

// Text is a message ready for the gateway: the SMS or WhatsApp text, or
// what a call says, with the call's language and voice.
type Text struct {
	Body, Language, Voice string
}

type nopLimiter struct{}

func (nopLimiter) TakeSend(context.Context, SendScope) (SendGrant, error) {
	return SendGrant{Refund: noRefund}, nil
}

type nopThrottle struct{}

func (nopThrottle) Take(context.Context) (time.Duration, error) { return 0, nil }

type nopObserver struct{}

func (nopObserver) Sent(string, int, bool)                  {}
func (nopObserver) Approved(string, int)                    {}
func (nopObserver) CheckFailed(string, int)                 {}
func (nopObserver) Rejected(LimitReason, int)               {}
func (nopObserver) Expired(string, int)                     {}
func (nopObserver) DeliveryReported(string, DeliveryStatus) {}
func (nopObserver) WorkflowStep(string, StepStatus)         {}
func (nopObserver) ApprovedByStep(int, string, int)         {}
func (nopObserver) FraudBlocked(string, bool)               {}
func (nopObserver) FraudRefused(string, bool)               {}
func (nopObserver) FraudUnblocked(string, FraudUnblock)     {}
func (nopObserver) Delivery(string, DeliveryOutcome, int)   {}
func (nopObserver) Accepted(string, time.Duration)          {}
func (nopObserver) Spent(string, int, string, float64)      {}
func (nopObserver) Refunded(string, int, string, float64)   {}

// englishOnly is the Locales of a service that was given none.
type englishOnly struct{}

func (englishOnly) Match(tag string) (string, bool) {
	if t := strings.ToLower(tag); t == "en" || strings.HasPrefix(t, "en-") || strings.HasPrefix(t, "en_") {
		return "en", true
	}
	return "", false
}
func (englishOnly) ForRegion(string) string { return "en" }
