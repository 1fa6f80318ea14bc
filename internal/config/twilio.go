package config

import (
	"log/slog"
	"regexp"
	"time"

	"github.com/otpd/otpd/internal/logmask"
)

// Twilio is the account the worker sends through, and its senders.
type Twilio struct {
	AccountSID          string
	AuthToken           string
	PhoneNumber         string // the SMS sender (TWILIO_PHONE_NUMBER)
	MessagingServiceSID string
	APIURL              string // TWILIO_API_URL: tests point it at a fake
	Timeout             time.Duration
	// WhatsAppFrom is the WhatsApp sender (E.164), and WhatsAppContentSID
	// an approved template (HX…) for the code.
	WhatsAppFrom       string
	WhatsAppContentSID string
	// VoiceFrom is the caller id of calls (default TWILIO_PHONE_NUMBER).
	VoiceFrom string
}

// Configured reports whether real messages can be sent.
func (t Twilio) Configured() bool { return t.AccountSID != "" || t.AuthToken != "" }

// Twilio's patterns for the SIDs, from twilio_api_v2010.json.
var (
	accountSID          = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messagingServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	contentSID          = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	e164                = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

func (e *env) twilio() Twilio {
	t := Twilio{
		AccountSID:          e.str("TWILIO_ACCOUNT_SID", ""),
		AuthToken:           e.str("TWILIO_AUTH_TOKEN", ""),
		PhoneNumber:         e.str("TWILIO_PHONE_NUMBER", ""),
		MessagingServiceSID: e.str("TWILIO_MESSAGING_SERVICE_SID", ""),
		APIURL:              e.url("TWILIO_API_URL", "https://api.twilio.com"),
		Timeout:             e.dur("TWILIO_TIMEOUT", "10s", time.Second, 60*time.Second),
		WhatsAppFrom:        e.str("TWILIO_WHATSAPP_FROM", ""),
		WhatsAppContentSID:  e.str("TWILIO_WHATSAPP_CONTENT_SID", ""),
		VoiceFrom:           e.str("TWILIO_VOICE_FROM", e.str("TWILIO_PHONE_NUMBER", "")),
	}
	// A malformed SID would fail every SMS at run time; Twilio's own
	// patterns (twilio_api_v2010.json) catch it at start-up.
	if t.AccountSID != "" && !accountSID.MatchString(t.AccountSID) {
		e.bad("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits, as Twilio's console shows it")
	}
	if t.MessagingServiceSID != "" && !messagingServiceSID.MatchString(t.MessagingServiceSID) {
		e.bad("TWILIO_MESSAGING_SERVICE_SID", "must be MG followed by 32 hex digits, as Twilio's console shows it")
	}
	if t.WhatsAppFrom != "" && !e164.MatchString(t.WhatsAppFrom) {
		e.bad("TWILIO_WHATSAPP_FROM", "must be an E.164 number such as +14155238886 (without whatsapp:)")
	}
	if t.VoiceFrom != "" && !e164.MatchString(t.VoiceFrom) {
		e.bad("TWILIO_VOICE_FROM", "must be an E.164 number such as +14155552671")
	}
	if t.WhatsAppContentSID != "" && !contentSID.MatchString(t.WhatsAppContentSID) {
		e.bad("TWILIO_WHATSAPP_CONTENT_SID", "must be HX followed by 32 hex digits")
	}
	return t
}

// missing lists the variables sending on channels needs that are unset.
func (t Twilio) missing(channels map[string]bool) []string {
	var m []string
	if t.AccountSID == "" {
		m = append(m, "TWILIO_ACCOUNT_SID")
	}
	if t.AuthToken == "" {
		m = append(m, "TWILIO_AUTH_TOKEN")
	}
	if channels["sms"] && t.PhoneNumber == "" && t.MessagingServiceSID == "" {
		m = append(m, "TWILIO_PHONE_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
	}
	if channels["whatsapp"] && t.WhatsAppFrom == "" && t.MessagingServiceSID == "" {
		m = append(m, "TWILIO_WHATSAPP_FROM or TWILIO_MESSAGING_SERVICE_SID (CHANNELS has whatsapp)")
	}
	if channels["call"] && t.VoiceFrom == "" {
		m = append(m, "TWILIO_VOICE_FROM or TWILIO_PHONE_NUMBER (CHANNELS has call)")
	}
	return m
}

func (t Twilio) attrs() []slog.Attr {
	return []slog.Attr{slog.String("twilio_account_sid", t.AccountSID), slog.String("twilio_auth_token", mask(t.AuthToken)),
		slog.String("twilio_phone_number", t.PhoneNumber), slog.String("twilio_messaging_service_sid", t.MessagingServiceSID),
		slog.String("twilio_api_url", logmask.URL(t.APIURL))}
}
