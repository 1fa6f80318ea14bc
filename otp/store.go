package otp

import (
	"context"
	"time"
)

// Store keeps verifications and applies the per-number rules, each
// operation atomically, so that concurrent requests cannot race past a
// rule (otp/redisstore is the Redis one). It judges time by its own clock:
// every api and worker then agrees on expiry, cooldowns and windows.
type Store interface {
	// Start creates a verification, or records a resend on the pending
	// one, and takes the cross-number limits of p.Scope with it: all or
	// nothing. A refusal is a *LimitError.
	Start(ctx context.Context, p StartParams) (StartResult, error)
	// Check applies one code attempt, and takes the origin's check limits
	// with it (the API key's write limits, the client IP's failed-check
	// budget), before the code is compared: a refusal is a *LimitError and
	// compares nothing. A right code is free: it keeps the failed-check
	// budget; every other answer, and a lost one, costs it. A verification
	// that is not pending gives *FinishedError (with the verification when
	// known) or ErrNotFound; one locked by wrong codes gives *LimitError.
	Check(ctx context.Context, p CheckParams) (CheckResult, error)
	// Get reads a verification, as of the store's clock.
	Get(ctx context.Context, id string) (Verification, error)
	// Cancel ends a pending verification; now says whether this call did
	// (a second cancel answers alike, but only the first ends anything).
	Cancel(ctx context.Context, id string) (v Verification, now bool, err error)
	// Claim takes the right to hand one send attempt to the gateway and
	// reads what that needs. A claim older than stale is presumed dead and
	// taken over, and so is one made at or before deadBefore (the store's
	// clock; zero: none), when the run that made it is known dead.
	Claim(ctx context.Context, id string, attempt int, stale time.Duration, deadBefore time.Time) (Claim, error)
	// Release drops the claim of an attempt the gateway refused with a
	// retryable error: nothing was sent, so the retry need not wait.
	Release(ctx context.Context, id string, attempt, errorCode int) error
	// Record stores a report on a send attempt. Statuses only move
	// forward; changed is false for a stale report (ignored) and for the
	// same status again.
	Record(ctx context.Context, id string, attempt int, u AttemptUpdate) (changed bool, err error)
	// StepWorkflow moves a verification's workflow from one step to the
	// next, at most once per step.
	StepWorkflow(ctx context.Context, id string, p StepParams) (StepResult, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// StartParams is everything a start needs.
type StartParams struct {
	// Tag is the number's (Codec.Tag), NewID the id of a new verification.
	Tag, NewID, To, Channel string
	MAC, Sealed             string
	// Locale, Brand (its BrandKey) and AppHash say how the worker writes
	// the message; a resend that gives them replaces what the verification
	// had. DefaultLocale is a new verification's when Locale is "".
	Locale, DefaultLocale, Brand, AppHash string
	// Workflow, for a new verification, is its fallback workflow's
	// channels, in order (nil: none); a resend ignores it.
	Workflow       []string
	ChannelTimeout time.Duration
	// Origin is kept with a workflow, for its steps' limits.
	Origin         Origin
	TTL, Retention time.Duration
	MaxSends       int
	Cooldown       time.Duration
	SendCap        Window // sends per number across verifications
	FailureLock    Window // wrong codes per number that lock it
	// Scope is what the cross-number limits of this send key on.
	Scope SendScope
}

// Window is "Count per Period"; Count 0 is off.
type Window struct {
	Count  int
	Period time.Duration
}

// StartResult says what a start did.
type StartResult struct {
	Verification Verification
	Created      bool
	// Undo takes the start back (its delivery could not be queued): no
	// verification that nobody will send, no spent send attempt. The
	// limits it took stay taken.
	Undo func(ctx context.Context) error // ErrSendUnderway: kept, a worker has it
	// Fraud is what the fraud guard made of the send (a refusal is a
	// *LimitError instead).
	Fraud FraudVerdict
}

// CheckOutcome is the result of one check.
type CheckOutcome int

const (
	CheckApproved  CheckOutcome = iota + 1 // right code
	CheckWrong                             // wrong code, attempts left
	CheckExhausted                         // wrong code, that was the last attempt
)

// CheckParams names the verification by ID or by number (To), with the MAC
// of the code typed.
type CheckParams struct {
	Tag, ID, To string
	MAC         string
	MaxChecks   int
	FailureLock Window // wrong codes per number, across verifications
	Origin             // whose limits the check takes
}

// CheckResult is what a check did.
type CheckResult struct {
	Verification
	Outcome CheckOutcome
	// Locked: this wrong code locked the number (FAILED_CHECK_LIMIT).
	Locked bool
}

// Claim is what a send attempt's claim found.
type Claim struct {
	// Outcome says whether to send.
	Outcome ClaimOutcome
	// Claimed: the verification's number, expiry and sealed code. Claims > 1
	// means an earlier run claimed the attempt and died mid-request.
	To        string
	ExpiresAt time.Time
	Sealed    string
	Claims    int
	QueuedAt  time.Time // when the send was requested
	// Remaining is the code's life left and QueuedFor the time since the
	// send was requested, both by the store's clock at the claim: durations
	// a worker can add to its own clock, whatever that clock's offset.
	Remaining time.Duration
	QueuedFor time.Duration
	// Channel of the attempt, and how to write its message (Brand is the
	// BrandKey of the brand the request named, if any).
	Channel, Locale, Brand, AppHash string
	// AlreadySent: the MessageSid the gateway gave the earlier run.
	MessageSID string
	// Busy: how long until a live run's claim goes stale.
	Wait time.Duration
	// Skip: why there is nothing to send (expired, canceled, superseded …).
	Reason string
}

// ClaimOutcome is the result of Store.Claim.
type ClaimOutcome int

const (
	ClaimSkip        ClaimOutcome = iota // nothing to send
	ClaimSend                            // claimed: call the gateway
	ClaimAlreadySent                     // an earlier run's message was accepted
	ClaimBusy                            // another live run holds the claim
)

// AttemptUpdate is a report on one send attempt; it is dated by the
// store's clock.
type AttemptUpdate struct {
	Status     DeliveryStatus
	MessageSID string // or a call's CallSid
	ErrorCode  int
	Reason     string
	RawStatus  string // the gateway's own status word, kept when the update is
	// FromGateway: the gateway's status callback, which is ignored when its
	// MessageSid belongs to another message, or Channel (what the callback
	// is about, "" any) is not the attempt's.
	FromGateway bool
	Channel     string
}
