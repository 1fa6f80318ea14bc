package config

import (
	"log/slog"
	"strings"
	"time"
)

// Channels are the ways a code may go, and the default fallback workflow.
type Channels struct {
	// Enabled are the enabled channels (CHANNELS).
	Enabled map[string]bool
	// VoiceAllowedCountries narrows calls to these regions; empty: no
	// narrowing beyond ALLOWED_COUNTRIES.
	VoiceAllowedCountries map[string]bool
	// Workflow is the default fallback workflow (OTP_WORKFLOW; empty: the
	// request's channel alone), Timeout how long a step waits.
	Workflow []string
	Timeout  time.Duration
}

func (e *env) channels() Channels {
	c := Channels{Enabled: map[string]bool{}, VoiceAllowedCountries: e.countries("VOICE_ALLOWED_COUNTRIES"),
		Timeout: e.dur("OTP_CHANNEL_TIMEOUT", "60s", 15*time.Second, 15*time.Minute)}
	for _, ch := range strings.Split(e.str("CHANNELS", "sms"), ",") {
		switch ch = strings.ToLower(strings.TrimSpace(ch)); ch {
		case "sms", "whatsapp", "call", "telegram":
			c.Enabled[ch] = true
		default:
			e.bad("CHANNELS", "%q is not sms, whatsapp, call or telegram", ch)
		}
	}
	if w := e.str("OTP_WORKFLOW", ""); w != "" {
		for _, ch := range strings.Split(w, ",") {
			ch = strings.ToLower(strings.TrimSpace(ch))
			if !c.Enabled[ch] {
				e.bad("OTP_WORKFLOW", "%q is not a channel CHANNELS enables", ch)
			}
			c.Workflow = append(c.Workflow, ch)
		}
		if len(c.Workflow) > 4 {
			e.bad("OTP_WORKFLOW", "has %d steps; a workflow has 1 to 4", len(c.Workflow))
		}
	}
	return c
}

func (c Channels) attrs() []slog.Attr {
	return []slog.Attr{slog.Any("channels", c.Enabled), slog.Int("voice_allowed_countries", len(c.VoiceAllowedCountries)),
		slog.Any("otp_workflow", c.Workflow), slog.String("otp_channel_timeout", c.Timeout.String())}
}
