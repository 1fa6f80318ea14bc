package otp

import (
	"errors"
	"fmt"
	"time"
)

// Status is the lifecycle state of a verification, named as in Twilio Verify.
type Status string

const (
	StatusPending     Status = "pending"
	StatusApproved    Status = "approved"
	StatusCanceled    Status = "canceled"
	StatusExpired     Status = "expired"
	StatusMaxAttempts Status = "max_attempts_reached"
)

// DeliveryStatus follows the SMS through our queue and Twilio.
type DeliveryStatus string

const (
	DeliveryQueued      DeliveryStatus = "queued"      // in our task queue
	DeliverySending     DeliveryStatus = "sending"     // handed to Twilio, not yet at the carrier
	DeliverySent        DeliveryStatus = "sent"        // carrier accepted it
	DeliveryDelivered   DeliveryStatus = "delivered"   // handset confirmed
	DeliveryUndelivered DeliveryStatus = "undelivered" // carrier gave up
	DeliveryFailed      DeliveryStatus = "failed"      // Twilio refused or we gave up
)

// DeliveryReason says why a send attempt ended without its message, or is
// being retried (Delivery.Reason); a verification's own Status (approved,
// canceled …) and a workflow step's limit are reasons too.
type DeliveryReason string

const (
	ReasonExpired          DeliveryReason = "expired"           // too little of the code's life left to send
	ReasonSuperseded       DeliveryReason = "superseded"        // a later send of the verification took over
	ReasonRetrying         DeliveryReason = "retrying"          // the gateway refused for now: another try comes
	ReasonTwilioError      DeliveryReason = "twilio_error"      // the gateway refused for good (ErrorCode says why)
	ReasonTelegramError    DeliveryReason = "telegram_error"    // Telegram refused for good (no account on the number …)
	ReasonRetriesExhausted DeliveryReason = "retries_exhausted" // the queue's tries ran out
	ReasonChannelDisabled  DeliveryReason = "channel_disabled"  // its channel left CHANNELS
	ReasonCountry          DeliveryReason = "country_not_allowed"
	ReasonIntegrity        DeliveryReason = "integrity_error" // the stored number is not the id's
	ReasonUndecryptable    DeliveryReason = "undecryptable"   // the sealed code does not open
)

// A claim that finds nothing to send, and nothing to record on, says why:
// the verification is gone, or its start was undone.
const (
	ClaimGone       = "gone"
	ClaimRolledBack = "rolled_back"
)

// StepMaxSends is why OTP_MAX_SENDS skips a workflow step (TO_SEND_LIMIT
// skips one with LimitToCap).
const StepMaxSends = "max_send_attempts"

// The channels a code can take. A verification keeps one code across them:
// a resend may take another channel.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelCall     = "call"
	// ChannelTelegram is Telegram's Gateway API: our own code, in a message
	// Telegram writes, to a number that has a Telegram account.
	ChannelTelegram = "telegram"
)

// Channels are every channel otpd can send on, in the order lists show them.
var Channels = []string{ChannelSMS, ChannelWhatsApp, ChannelCall, ChannelTelegram}

// KnownChannel reports whether c is a channel otpd can send on.
func KnownChannel(c string) bool {
	return c == ChannelSMS || c == ChannelWhatsApp || c == ChannelCall || c == ChannelTelegram
}

// Telegram takes codes of 4 to 8 digits, and a ttl of 30 to 3600 seconds.
const (
	TelegramMaxCodeLength = 8
	TelegramMinTTL        = 30 * time.Second
	TelegramMaxTTL        = time.Hour
)

// ChannelNoun is what channel c sends, as a log line names it: "SMS",
// "WhatsApp message" or "call" (an unknown channel is sent as an SMS).
func ChannelNoun(c string) string {
	switch c {
	case ChannelWhatsApp:
		return "WhatsApp message"
	case ChannelCall:
		return "call"
	case ChannelTelegram:
		return "Telegram message"
	default:
		return "SMS"
	}
}

// Verification is what clients see. It never carries code material.
type Verification struct {
	ID string `json:"id"`
	To string `json:"to"`
	// Channel is the latest attempt's.
	Channel string `json:"channel"`
	// Locale is the language of the texts and calls (a BCP 47 tag the
	// catalog speaks), as asked for or taken from the number's country.
	Locale        string    `json:"locale"`
	Status        Status    `json:"status"`
	SendAttempts  int       `json:"sendAttempts"`
	CheckAttempts int       `json:"checkAttempts"`
	CreatedAt     time.Time `json:"createdAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
	Delivery      Delivery  `json:"delivery"`
	// Attempts lists every send, oldest first; Delivery is the last one's.
	Attempts []Attempt `json:"attempts"`
	// Workflow is the fallback plan, when the verification has one.
	Workflow *Workflow `json:"workflow,omitempty"`
	// Origin is who started a verification with a workflow: its steps
	// count against that API key's and end user's limits too.
	Origin Origin `json:"-"`
	// LastSendAt is the time of the latest send; it drives the cooldown.
	LastSendAt time.Time `json:"-"`
}

// Delivery is the state of the latest attempt of a verification.
type Delivery struct {
	Channel string         `json:"channel"`
	Status  DeliveryStatus `json:"status"`
	// RawStatus is Twilio's own word for it (a call's no-answer or busy,
	// a WhatsApp message's read), when Twilio has said one.
	RawStatus  string `json:"rawStatus,omitempty"`
	MessageSID string `json:"messageSid,omitempty"`
	ErrorCode  int    `json:"errorCode,omitempty"`
	// Reason says why a send ended without an SMS (expired, canceled,
	// superseded, twilio_error …) or that it is being retried.
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Attempt is one send (the first or a resend) on one channel, and what
// became of its message or call.
type Attempt struct {
	Attempt    int            `json:"attempt"`
	Channel    string         `json:"channel"`
	QueuedAt   time.Time      `json:"queuedAt"`
	Status     DeliveryStatus `json:"status"`
	RawStatus  string         `json:"rawStatus,omitempty"`
	MessageSID string         `json:"messageSid,omitempty"`
	ErrorCode  int            `json:"errorCode,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	UpdatedAt  time.Time      `json:"updatedAt"`
}

// Domain errors. The HTTP layer maps each to one problem code in one place.
var (
	ErrNotFound = errors.New("verification not found")
	// ErrInvalidPhone means the number is not a valid, dialable number.
	ErrInvalidPhone = errors.New("invalid phone number")
	// ErrInvalidInput covers malformed ids, codes and channels.
	ErrInvalidInput = errors.New("invalid input")
	// ErrCountryNotAllowed means the number's country is not in
	// ALLOWED_COUNTRIES (or, for a call, VOICE_ALLOWED_COUNTRIES).
	ErrCountryNotAllowed = errors.New("country not allowed")
	// ErrChannelUnavailable means the channel is unknown or not in CHANNELS.
	ErrChannelUnavailable = errors.New("channel unavailable")
	// ErrNotMobile means REJECT_NON_MOBILE refused a landline or VoIP number.
	ErrNotMobile = errors.New("not a mobile number")
	// ErrNumberTypeBlocked means BLOCKED_NUMBER_TYPES refused the number's
	// type (premium rate, toll free …).
	ErrNumberTypeBlocked = errors.New("number type blocked")
	// ErrUnavailable means a dependency (Redis, the queue) failed.
	ErrUnavailable = errors.New("service unavailable")
	// ErrNotReplicated means fewer replicas than REDIS_MIN_REPLICAS took a
	// send's writes in time (Replication): the send was undone. It is an
	// ErrUnavailable too.
	ErrNotReplicated = fmt.Errorf("%w: not replicated", ErrUnavailable)
	// ErrSendUnderway is an undo's answer when a worker already claimed
	// the send: it was left alone, since its message is on its way.
	ErrSendUnderway = errors.New("the send is already with a worker")
)

// FinishedError says that the verification exists but is no longer pending.
type FinishedError struct{ Status Status }

func (e *FinishedError) Error() string { return fmt.Sprintf("verification is %s", e.Status) }

// LimitError is a refusal that clears with time: Reason names the rule and
// RetryAfter says when to come back.
type LimitError struct {
	Reason     LimitReason
	RetryAfter time.Duration
	// Fraud, for LimitFraud, is the guard's verdict: the block that
	// refused, and any block the send's judgement made.
	Fraud *FraudVerdict
}

// LimitReason names which limit refused a request.
type LimitReason string

const (
	LimitCooldown        LimitReason = "cooldown"         // OTP_RESEND_COOLDOWN
	LimitMaxSends        LimitReason = "max_sends"        // OTP_MAX_SENDS
	LimitMaxChecks       LimitReason = "max_checks"       // OTP_MAX_CHECKS
	LimitToCap           LimitReason = "to"               // TO_SEND_LIMIT: sends per number across verifications
	LimitFailedChecks    LimitReason = "failed_checks"    // FAILED_CHECK_LIMIT: wrong codes per number
	LimitClientIP        LimitReason = "client_ip"        // CLIENT_IP_*_LIMITS
	LimitAPIKey          LimitReason = "api_key"          // API_KEY_SEND_LIMITS
	LimitAPIKeyWrites    LimitReason = "api_key_writes"   // API_KEY_WRITE_LIMITS: cancels, checks, fraud list changes
	LimitIdempotencyKeys LimitReason = "idempotency_keys" // API_KEY_IDEMPOTENCY_KEYS: Idempotency-Key answers kept
	LimitPrefix          LimitReason = "prefix"           // PREFIX_SEND_LIMITS: ranges of numbers
	LimitCountry         LimitReason = "country"          // SMS_COUNTRY_BUDGETS
	LimitGlobal          LimitReason = "global"           // SMS_BUDGET_PER_MINUTE
	LimitCallBudget      LimitReason = "call_budget"      // CALL_BUDGET_PER_MINUTE
	LimitFraud           LimitReason = "fraud_blocked"    // FRAUD_GUARD: a blocked range or country
	LimitNumberType      LimitReason = "number_type_blocked"
	// LimitTenant is a tenant's own send limits and budgets (TENANTS_FILE).
	LimitTenant LimitReason = "tenant"
	// LimitTelegramBudget is TELEGRAM_BUDGET_PER_MINUTE.
	LimitTelegramBudget LimitReason = "telegram_budget"
)

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s: retry after %s", e.Reason, e.RetryAfter)
}

// ChannelError is ErrChannelUnavailable with the channels that are.
type ChannelError struct {
	Channel string
	Enabled []string
}

func (e *ChannelError) Error() string {
	return fmt.Sprintf("channel %q is not available; enabled: %v", e.Channel, e.Enabled)
}
func (e *ChannelError) Unwrap() error { return ErrChannelUnavailable }

// InputError is ErrInvalidInput with a human-readable reason.
type InputError struct{ Detail string }

func (e *InputError) Error() string { return e.Detail }
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// ErrCollision means two numbers share a hash tag, so they would share
// the store's record, or a new id was already used by an archived
// verification (it is the sealed code's nonce, so it must be new). The
// send is refused rather than mix state; the client's retry draws a new
// id. With 80-bit tags and 48 random bits per number it should never
// happen.
var ErrCollision = fmt.Errorf("%w: hash tag or verification id already in use", ErrUnavailable)
