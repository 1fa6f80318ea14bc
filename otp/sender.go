package otp

import (
	"context"
	"fmt"
	"time"
)

// Message is one SMS to send.
type Message struct {
	To   string
	Body string
	// ValidFor is the code's remaining life: a gateway that supports it
	// (Twilio's ValidityPeriod) drops the message rather than deliver a dead code.
	ValidFor time.Duration
	// StatusCallback is where the gateway reports delivery ("" none).
	StatusCallback string
}

// Receipt is the gateway's acceptance of a message.
type Receipt struct {
	MessageSID string
	Status     DeliveryStatus
}

// Sender hands a message to an SMS gateway.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// SendError is a gateway refusal. Permanent ones (bad number, unsubscribed)
// are never retried; the rest are.
type SendError struct {
	Permanent  bool
	HTTPStatus int
	Code       int           // gateway error code, e.g. Twilio 21211
	RetryAfter time.Duration // from the gateway's Retry-After, 0 if none
	Err        error
}

func (e *SendError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("sms: %s error (http %d, code %d): %v", kind, e.HTTPStatus, e.Code, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }
