package client

import (
	"time"

	"github.com/otpd/otpd/client/internal/oapi"
)

// The API's answers as Go values. They are this package's own types, not
// the generated layer's, so that `go doc` shows their fields; each is
// converted from the generated type (a field the spec renames or drops
// fails to compile here, and TestTypesCoverTheAnswers fails on one it adds). An
// optional member the API leaves out is the field's zero value.

// Channel is a way to send a code.
type Channel string

const (
	ChannelSMS      = Channel(oapi.ChannelSms)
	ChannelWhatsApp = Channel(oapi.ChannelWhatsapp)
	ChannelCall     = Channel(oapi.ChannelCall)
	ChannelTelegram = Channel(oapi.ChannelTelegram)
)

// Status is how far a verification got.
type Status string

const (
	StatusPending            = Status(oapi.VerificationStatusPending)
	StatusApproved           = Status(oapi.VerificationStatusApproved)
	StatusCanceled           = Status(oapi.VerificationStatusCanceled)
	StatusExpired            = Status(oapi.VerificationStatusExpired)
	StatusMaxAttemptsReached = Status(oapi.VerificationStatusMaxAttemptsReached)
)

// DeliveryStatus is what became of a send: "queued" (in otpd's queue),
// "sending" (handed to Twilio), "sent" (reached the carrier), "delivered"
// (reached the handset), "undelivered" (the carrier gave up) or "failed"
// (Twilio refused it, or otpd gave up: see Reason).
type DeliveryStatus string

// Verification is a verification as the API answers it. It never carries
// code material.
type Verification struct {
	// ID names the verification: "VE" and 32 hex digits.
	ID string
	// To is the number, in E.164 form (+14155552671).
	To string
	// Channel is the latest attempt's channel.
	Channel Channel
	// Locale is the language of its messages and calls (en, fr, pt-BR …).
	Locale string
	// Status is pending until the verification is approved, canceled,
	// expired, or locked by wrong codes (max_attempts_reached).
	Status Status
	// SendAttempts counts the sends so far, the first included.
	SendAttempts int
	// CheckAttempts counts the wrong codes so far.
	CheckAttempts int
	CreatedAt     time.Time
	// ExpiresAt is when the code stops working.
	ExpiresAt time.Time
	// Delivery is the state of the latest send (the last of Attempts).
	Delivery Delivery
	// Attempts are every send, oldest first.
	Attempts []Attempt
	// Workflow is the fallback plan and how far it got; nil without one.
	Workflow *Workflow
}

// CheckResult is a check's answer: whether the code was right, and the
// verification after the check.
type CheckResult struct {
	// Valid says the code was right; the verification is approved.
	Valid bool
	// Malformed says the code was not OTP_CODE_LENGTH ASCII digits, so it
	// cannot be right: the API refused it unread (400 invalid_request),
	// counted no attempt, and answered no verification, so the embedded
	// Verification is empty. Valid is false.
	Malformed bool
	Verification
}

// Delivery is the state of a verification's latest send.
type Delivery struct {
	Channel Channel
	Status  DeliveryStatus
	// Reason says why a send ended without a message, or that it is being
	// retried: "expired", "approved", "canceled", "max_attempts_reached",
	// "superseded", "twilio_error" (see ErrorCode), "retries_exhausted",
	// "undecryptable", "retrying", "integrity_error", "channel_disabled",
	// "country_not_allowed" (docs/api.md); "" otherwise.
	Reason string
	// MessageSID is Twilio's message SID, or a call's CallSid (CA…); ""
	// until Twilio took it.
	MessageSID string
	// RawStatus is Twilio's own status word (no-answer, busy, read …); ""
	// until Twilio reported one.
	RawStatus string
	// ErrorCode is Twilio's error code; 0 when it reported none.
	ErrorCode int
	UpdatedAt time.Time
}

// Attempt is one send (the first or a resend) on one channel, and what
// became of its message or call.
type Attempt struct {
	// Attempt numbers the sends from 1.
	Attempt int
	Channel Channel
	Status  DeliveryStatus
	// Reason, MessageSID, RawStatus and ErrorCode are as in Delivery.
	Reason     string
	MessageSID string
	RawStatus  string
	ErrorCode  int
	QueuedAt   time.Time
	UpdatedAt  time.Time
}

// Workflow is a verification's fallback plan and how far it got.
type Workflow struct {
	// ChannelTimeout is how long a step waits for approval before the next.
	ChannelTimeout time.Duration
	Steps          []WorkflowStep
}

// WorkflowStep is one channel of a workflow.
type WorkflowStep struct {
	// Step numbers the steps from 1.
	Step    int
	Channel Channel
	// Status is "pending" (not reached), "started" (its message or call is
	// on its way), "failed" (known not to have got through; the next step
	// started), "timed_out" (no approval within the channel timeout),
	// "skipped" (a limit, budget or channel rule refused it; see Reason),
	// "approved" (the code came back during this step) or "stopped" (the
	// verification ended otherwise).
	Status string
	// Reason says why it ended: Twilio's word, the limit that skipped it,
	// or the verification's status; "" while it runs.
	Reason string
	// Attempt is the send attempt the step made; 0 before it made one.
	Attempt int
	// StartedAt and EndedAt are zero until the step started or ended.
	StartedAt time.Time
	EndedAt   time.Time
}

// FraudBlock is a number range or a country the fraud guard blocked
// (docs/fraud.md).
type FraudBlock struct {
	// Scope is "prefix" (Prefix is set) or "country" (Country is set).
	Scope string
	// Prefix is the range: the numbers less their last PREFIX_DIGITS digits.
	Prefix string
	// Country is an ISO 3166 region (US).
	Country string
	// Shadow says FRAUD_GUARD=shadow made it, so it refuses nothing.
	Shadow bool
	// Settled counts the settled verifications in the window it was judged
	// on, and Approved those of them that were approved.
	Settled  int
	Approved int
	Since    time.Time
	Until    time.Time
}

// SafeListEntry is a number or a "+digits" prefix the fraud guard spares.
type SafeListEntry struct {
	Entry string
	// Source is "config" (FRAUD_SAFE_LIST) or "api" (AddSafeListEntry).
	Source string
}

func verification(v oapi.Verification) Verification {
	out := Verification{ID: v.Id, To: v.To, Channel: Channel(v.Channel), Locale: v.Locale, Status: Status(v.Status),
		SendAttempts: v.SendAttempts, CheckAttempts: v.CheckAttempts, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt,
		Delivery: delivery(v.Delivery), Attempts: make([]Attempt, len(v.Attempts))}
	for i, a := range v.Attempts {
		out.Attempts[i] = Attempt{Attempt: a.Attempt, Channel: Channel(a.Channel), Status: DeliveryStatus(a.Status),
			Reason: string(deref(a.Reason)), MessageSID: deref(a.MessageSid), RawStatus: deref(a.RawStatus),
			ErrorCode: deref(a.ErrorCode), QueuedAt: a.QueuedAt, UpdatedAt: a.UpdatedAt}
	}
	if w := v.Workflow; w != nil {
		out.Workflow = &Workflow{ChannelTimeout: time.Duration(w.ChannelTimeout) * time.Second,
			Steps: make([]WorkflowStep, len(w.Steps))}
		for i, s := range w.Steps {
			out.Workflow.Steps[i] = WorkflowStep{Step: s.Step, Channel: Channel(s.Channel), Status: string(s.Status),
				Reason: deref(s.Reason), Attempt: deref(s.Attempt), StartedAt: deref(s.StartedAt), EndedAt: deref(s.EndedAt)}
		}
	}
	return out
}

func delivery(d oapi.Delivery) Delivery {
	return Delivery{Channel: Channel(d.Channel), Status: DeliveryStatus(d.Status), Reason: string(deref(d.Reason)),
		MessageSID: deref(d.MessageSid), RawStatus: deref(d.RawStatus), ErrorCode: deref(d.ErrorCode), UpdatedAt: d.UpdatedAt}
}

func fraudBlock(b oapi.FraudBlock) FraudBlock {
	return FraudBlock{Scope: string(b.Scope), Prefix: deref(b.Prefix), Country: deref(b.Country), Shadow: b.Shadow,
		Settled: b.Settled, Approved: b.Approved, Since: b.Since, Until: b.Until}
}

func safeListEntry(e oapi.SafeListEntry) SafeListEntry {
	return SafeListEntry{Entry: e.Entry, Source: string(e.Source)}
}
