package otp

import (
	"context"

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
	Region      string // ISO 3166 region of the number
	CallingCode int
	Prefix      string // the number minus its last digits
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
// and refusals by limit, per country calling code (bounded cardinality:
// never a number). The approval-to-send ratio per country is the SMS
// pumping alarm.
type Observer interface {
	Sent(callingCode int, resend bool)
	Approved(callingCode int)
	CheckFailed(callingCode int)
	Rejected(reason LimitReason, callingCode int)
	Expired(callingCode int)
	DeliveryReported(status DeliveryStatus)
}

type nopGuard struct{}

func (nopGuard) QueueSend(context.Context, redis.Scripter, SendScope) func() (Refund, error) {
	return func() (Refund, error) { return noRefund, nil }
}
func (nopGuard) TakeCheck(context.Context, Origin) (Refund, error) { return noRefund, nil }

func noRefund(context.Context) error { return nil }

type nopObserver struct{}

func (nopObserver) Sent(int, bool)                  {}
func (nopObserver) Approved(int)                    {}
func (nopObserver) CheckFailed(int)                 {}
func (nopObserver) Rejected(LimitReason, int)       {}
func (nopObserver) Expired(int)                     {}
func (nopObserver) DeliveryReported(DeliveryStatus) {}
