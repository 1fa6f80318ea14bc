package otp

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

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
}

// Guard applies the limits that span many numbers (end-user IP, API key,
// number prefix, country and global budgets). They live outside the send
// script because their keys are in other Redis Cluster slots. A refusal is
// a *LimitError; what was taken comes with the Refund that gives exactly
// that back.
type Guard interface {
	// QueueSend takes one send from every limit of s, added to a pipeline
	// (redis.Pipeliner, or the client itself to run at once); the function
	// reads the answer after the pipeline ran. Its Refund is for a send
	// that the per-number rules then refused: no SMS, no cost.
	QueueSend(ctx context.Context, pipe redis.Scripter, s SendScope) func() (Refund, error)
	// TakeCheck takes one failed check from the origin's budget before a
	// check runs, and refuses an origin that has none left; taken first, so
	// that parallel checks cannot overshoot it. Its Refund is for a right
	// code.
	TakeCheck(ctx context.Context, o Origin) (Refund, error)
}

// Refund gives back what a Guard took for one request.
type Refund func(ctx context.Context) error

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
}

// Locales chooses the language of a verification: Match finds the locale
// for a BCP 47 tag a client asked for (ok false when none is spoken), and
// ForRegion the locale of a number's country when none was asked for.
type Locales interface {
	Match(tag string) (locale string, ok bool)
	ForRegion(region string) string
}

type nopGuard struct{}

func (nopGuard) QueueSend(context.Context, redis.Scripter, SendScope) func() (Refund, error) {
	return func() (Refund, error) { return noRefund, nil }
}
func (nopGuard) TakeCheck(context.Context, Origin) (Refund, error) { return noRefund, nil }

func noRefund(context.Context) error { return nil }

type nopObserver struct{}

func (nopObserver) Sent(string, int, bool)                  {}
func (nopObserver) Approved(string, int)                    {}
func (nopObserver) CheckFailed(string, int)                 {}
func (nopObserver) Rejected(LimitReason, int)               {}
func (nopObserver) Expired(string, int)                     {}
func (nopObserver) DeliveryReported(string, DeliveryStatus) {}
func (nopObserver) WorkflowStep(string, StepStatus)         {}
func (nopObserver) ApprovedByStep(int, string, int)         {}

// englishOnly is the Locales of a service that was given none.
type englishOnly struct{}

func (englishOnly) Match(tag string) (string, bool) {
	if t := strings.ToLower(tag); t == "en" || strings.HasPrefix(t, "en-") || strings.HasPrefix(t, "en_") {
		return "en", true
	}
	return "", false
}
func (englishOnly) ForRegion(string) string { return "en" }
