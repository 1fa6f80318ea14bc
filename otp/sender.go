package otp

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// Message is one message or call to send.
type Message struct {
	// Channel is sms, whatsapp or call.
	Channel string
	To      string // E.164
	// Body is the text of an SMS or a WhatsApp message, or what a call says.
	Body string
	// Code is the code alone, for gateways that fill it into a template of
	// their own (a WhatsApp content template).
	Code string
	// Locale is the verification's, as the API shows it ("en"): what the
	// text was written in, and what a log says.
	Locale string
	// Language and Voice are a call's text-to-speech language and voice
	// ("en-US"); "" for a message.
	Language, Voice string
	// ValidFor is the code's remaining life: a gateway that supports it
	// (Twilio's ValidityPeriod) drops the message rather than deliver a dead code.
	ValidFor time.Duration
	// StatusCallback is where the gateway reports delivery ("" none).
	StatusCallback string
	// Ref ties the gateway's reports to this send attempt, for a gateway
	// that echoes an opaque reference back (Telegram's payload): at most
	// 128 bytes, no secret.
	Ref string
}

// MinValidity is the least life a code must have left to be sent: Twilio's
// ValidityPeriod is whole seconds from 1, and a message sent without one
// may wait in Twilio's queue for ten hours.
const MinValidity = time.Second

// MinCallValidity is the least life a code must have left for a call: up
// to 30 seconds of ringing, 20 of speech, and time to type it.
const MinCallValidity = time.Minute

// Receipt is the gateway's acceptance of a message or call.
type Receipt struct {
	MessageSID string // a call's CallSid for calls
	Status     DeliveryStatus
	// ErrorCode is set when the gateway accepted the request but already
	// knows the message failed (Twilio's 201 with a non-null error_code).
	ErrorCode int
	// Handled is what the gateway did with it, as the worker's log says
	// after the channel's noun: "accepted by Twilio", or the development
	// console's "printed to the console, not sent".
	Handled string
}

// Sender hands a message or call to a gateway.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// SendError is a gateway refusal. Permanent ones (bad number, unsubscribed)
// are never retried; the rest are.
type SendError struct {
	// Channel is the message's or call's: the error names it.
	Channel    string
	Permanent  bool
	HTTPStatus int
	Code       int           // gateway error code, e.g. Twilio 21211
	RetryAfter time.Duration // from the gateway's Retry-After, 0 if none
	// Account: the gateway refused our account itself (a bad token, no
	// balance), not this message: operators must act, so it is logged as an
	// alert and counted, and the step fails like a permanent error.
	Account bool
	Err     error
}

func (e *SendError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s: %s error (http %d, code %d): %v", cmp.Or(e.Channel, "send"), kind, e.HTTPStatus, e.Code, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }
