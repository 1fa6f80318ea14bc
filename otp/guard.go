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
// script because their keys are in other Redis Cluster slots. Each method
// returns a *LimitError when a limit refuses.
type Guard interface {
	AllowSend(ctx context.Context, s SendScope) error
	// QueueSend is AllowSend added to a pipeline (redis.Pipeliner, or the
	// client itself to run at once); the function reads the answer after
	// the pipeline ran.
	QueueSend(ctx context.Context, pipe redis.Scripter, s SendScope) func() error
	// RefundSend gives back what QueueSend took when the per-number rules
	// then refused the send: no SMS, no cost to shared budgets.
	RefundSend(ctx context.Context, s SendScope) error
	// TakeCheck takes one wrong code from the origin's budget before a
	// check runs, and refuses an origin that has none left; taken first, so
	// that parallel checks cannot overshoot it. RefundCheck gives it back
	// when the code was not wrong after all.
	TakeCheck(ctx context.Context, o Origin) error
	RefundCheck(ctx context.Context, o Origin) error
}

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

func (nopGuard) AllowSend(context.Context, SendScope) error { return nil }
func (nopGuard) QueueSend(context.Context, redis.Scripter, SendScope) func() error {
	return func() error { return nil }
}
func (nopGuard) RefundSend(context.Context, SendScope) error { return nil }
func (nopGuard) TakeCheck(context.Context, Origin) error     { return nil }
func (nopGuard) RefundCheck(context.Context, Origin) error   { return nil }

type nopObserver struct{}

func (nopObserver) Sent(int, bool)                  {}
func (nopObserver) Approved(int)                    {}
func (nopObserver) CheckFailed(int)                 {}
func (nopObserver) Rejected(LimitReason, int)       {}
func (nopObserver) Expired(int)                     {}
func (nopObserver) DeliveryReported(DeliveryStatus) {}
