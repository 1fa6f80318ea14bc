package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/messages"
)

// twilioEnv is a development setup with Twilio credentials.
func twilioEnv(set map[string]string) map[string]string {
	return merge(map[string]string{"OTP_SECRET": secret, "API_KEYS": "k0123456789abcdef",
		"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_PHONE_NUMBER": "+15005550006"}, set)
}

// Every channel setting, with the variable each refusal names ("" starts).
func TestChannelSettings(t *testing.T) {
	templates := filepath.Join(t.TempDir(), "templates.json")
	os.WriteFile(templates, []byte(`{"fr": {"sms": "{brand} : code {code}"}}`), 0o600)
	broken := filepath.Join(t.TempDir(), "broken.json")
	os.WriteFile(broken, []byte(`{"fr": {"sms": "no code here"}}`), 0o600)
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"defaults", nil, ""},
		{"every channel", map[string]string{"CHANNELS": "sms, WhatsApp,call", "TWILIO_WHATSAPP_FROM": "+14155238886"}, ""},
		{"unknown channel", map[string]string{"CHANNELS": "sms,fax"}, "CHANNELS"},
		{"whatsapp without a sender", map[string]string{"CHANNELS": "sms,whatsapp"}, "TWILIO_WHATSAPP_FROM"},
		{"whatsapp through the messaging service", map[string]string{"CHANNELS": "whatsapp", "TWILIO_PHONE_NUMBER": "",
			"TWILIO_MESSAGING_SERVICE_SID": testMG}, ""},
		{"call without a caller id", map[string]string{"CHANNELS": "call", "TWILIO_PHONE_NUMBER": "", "TWILIO_MESSAGING_SERVICE_SID": testMG}, "TWILIO_VOICE_FROM"},
		{"call from its own number", map[string]string{"CHANNELS": "call", "TWILIO_PHONE_NUMBER": "", "TWILIO_VOICE_FROM": "+15005550007"}, ""},
		{"whatsapp: in the sender", map[string]string{"TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"}, "TWILIO_WHATSAPP_FROM"},
		{"bad voice number", map[string]string{"TWILIO_VOICE_FROM": "0800 123"}, "TWILIO_VOICE_FROM"},
		{"bad content sid", map[string]string{"TWILIO_WHATSAPP_CONTENT_SID": "HX123"}, "TWILIO_WHATSAPP_CONTENT_SID"},
		{"content sid", map[string]string{"TWILIO_WHATSAPP_CONTENT_SID": "HX0123456789abcdef0123456789abcdef"}, ""},
		{"call budget", map[string]string{"CALL_BUDGET_PER_MINUTE": "-1"}, "CALL_BUDGET_PER_MINUTE"},
		{"voice countries", map[string]string{"VOICE_ALLOWED_COUNTRIES": "US,Atlantis"}, "VOICE_ALLOWED_COUNTRIES"},
		{"a brand", map[string]string{"OTP_BRAND": "Acme & Co."}, ""},
		{"a brand with a link", map[string]string{"OTP_BRAND": "Visit https://evil.example"}, "OTP_BRAND"},
		{"a brand with a phone number", map[string]string{"OTP_BRAND": "Call 9005550199"}, "OTP_BRAND"},
		{"a brand of 31 characters", map[string]string{"OTP_BRAND": strings.Repeat("a", 31)}, "OTP_BRAND"},
		{"a brand that is a domain", map[string]string{"OTP_BRAND": "paypal-login.com"}, "OTP_BRAND"},
		{"a short link", map[string]string{"OTP_BRAND": "bit.ly"}, "OTP_BRAND"},
		{"www", map[string]string{"OTP_BRAND": "www acme"}, "OTP_BRAND"},
		{"an abbreviation is fine", map[string]string{"OTP_BRAND": "St. Mary's Clinic"}, ""},
		{"a Japanese brand", map[string]string{"OTP_BRAND": "アクメ銀行"}, ""},
		{"brands", map[string]string{"OTP_BRANDS": "Acme, Globex"}, ""},
		{"a bad brand in the list", map[string]string{"OTP_BRANDS": "Acme,www.evil.example/win"}, "OTP_BRANDS"},
		{"webotp domain", map[string]string{"OTP_WEBOTP_DOMAIN": "Example.COM"}, ""},
		{"webotp with a scheme", map[string]string{"OTP_WEBOTP_DOMAIN": "https://example.com"}, "OTP_WEBOTP_DOMAIN"},
		{"webotp with a port", map[string]string{"OTP_WEBOTP_DOMAIN": "example.com:443"}, "OTP_WEBOTP_DOMAIN"},
		{"templates", map[string]string{"OTP_TEMPLATES": templates}, ""},
		{"broken templates", map[string]string{"OTP_TEMPLATES": broken}, "OTP_TEMPLATES"},
		{"missing templates", map[string]string{"OTP_TEMPLATES": filepath.Join(t.TempDir(), "nope.json")}, "OTP_TEMPLATES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantLoad(t, twilioEnv(tc.vars), tc.want)
		})
	}
}

// Production: calls need their own country list, and messages a brand.
func TestProductionChannelRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"calls without a voice country list", map[string]string{"CHANNELS": "sms,call"}, "VOICE_ALLOWED_COUNTRIES"},
		{"calls with one", map[string]string{"CHANNELS": "sms,call", "VOICE_ALLOWED_COUNTRIES": "US"}, ""},
		{"calls everywhere on purpose", map[string]string{"CHANNELS": "sms,call", "VOICE_ALLOWED_COUNTRIES": "*"}, ""},
		{"no brand", map[string]string{"OTP_BRAND": ""}, "OTP_BRAND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantLoad(t, prodEnv(tc.set), tc.want)
		})
	}
}

// The catalog the processes use carries the operator's texts, the legacy
// OTP_MESSAGE as English, the WebOTP line, and a warning for a text that
// would take three segments.
func TestConfiguredMessages(t *testing.T) {
	c, err := config.Load(env(twilioEnv(map[string]string{"OTP_MESSAGE": "Code {code}", "OTP_BRAND": "Acme",
		"OTP_WEBOTP_DOMAIN": "example.com", "CHANNELS": "sms,call"})))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Messages.Catalog.Render(messages.Params{Locale: "en", Channel: messages.SMS, Code: "123456"}).Text; got != "Code 123456\n\n@example.com #123456" {
		t.Fatalf("%q", got)
	}
	if !c.Channels.Enabled["call"] || !c.Channels.Enabled["sms"] || c.Channels.Enabled["whatsapp"] || c.Twilio.VoiceFrom != "+15005550006" {
		t.Fatalf("channels %v, voice from %q", c.Channels.Enabled, c.Twilio.VoiceFrom)
	}
	long := filepath.Join(t.TempDir(), "long.json")
	os.WriteFile(long, []byte(`{"de": {"sms": "`+strings.Repeat("Wort ", 60)+`{brand} {code}"}}`), 0o600)
	c, err = config.Load(env(twilioEnv(map[string]string{"OTP_TEMPLATES": long})))
	if err != nil || !strings.Contains(strings.Join(c.Warnings, "\n"), "de: 3 GSM-7 segments") {
		t.Fatalf("%v %v", c.Warnings, err)
	}
}

var goodWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Workflow and event settings, with the variable each refusal names.
func TestWorkflowAndWebhookSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"a default workflow", map[string]string{"CHANNELS": "sms,call", "OTP_WORKFLOW": "sms, call"}, ""},
		{"a workflow through a disabled channel", map[string]string{"OTP_WORKFLOW": "sms,call"}, "OTP_WORKFLOW"},
		{"a workflow of five", map[string]string{"OTP_WORKFLOW": "sms,sms,sms,sms,sms"}, "OTP_WORKFLOW"},
		{"a timeout of 14s", map[string]string{"OTP_CHANNEL_TIMEOUT": "14s"}, "OTP_CHANNEL_TIMEOUT"},
		{"a timeout of 15m", map[string]string{"OTP_CHANNEL_TIMEOUT": "15m"}, ""},
		{"events", map[string]string{"WEBHOOK_URL": "https://backend.example/otp-events", "WEBHOOK_SECRET": goodWebhookSecret}, ""},
		{"events without a secret", map[string]string{"WEBHOOK_URL": "https://backend.example/otp-events"}, "WEBHOOK_SECRET"},
		{"a secret without its prefix", map[string]string{"WEBHOOK_URL": "https://b.example/", "WEBHOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "WEBHOOK_SECRET"},
		{"a short secret", map[string]string{"WEBHOOK_URL": "https://b.example/", "WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "WEBHOOK_SECRET"},
		{"not a URL", map[string]string{"WEBHOOK_URL": "backend", "WEBHOOK_SECRET": goodWebhookSecret}, "WEBHOOK_URL"},
		{"max age", map[string]string{"WEBHOOK_MAX_AGE": "30s"}, "WEBHOOK_MAX_AGE"},
		{"max pending", map[string]string{"WEBHOOK_MAX_PENDING": "10"}, "WEBHOOK_MAX_PENDING"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantLoad(t, twilioEnv(tc.vars), tc.want) })
	}
	// Production: events over http only to a loopback host.
	wantLoad(t, prodEnv(map[string]string{"WEBHOOK_URL": "http://backend.example/", "WEBHOOK_SECRET": goodWebhookSecret}), "WEBHOOK_URL")
	wantLoad(t, prodEnv(map[string]string{"WEBHOOK_URL": "http://127.0.0.1:9000/", "WEBHOOK_SECRET": goodWebhookSecret}), "")
}
