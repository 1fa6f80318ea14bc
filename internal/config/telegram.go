package config

import (
	"log/slog"
	"regexp"

	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/otp"
)

// Telegram is the Gateway API account the telegram channel sends through.
type Telegram struct {
	// Token is the Gateway API's bearer token (TELEGRAM_GATEWAY_TOKEN);
	// the api needs it too, to check the signatures of Telegram's reports.
	Token string
	// URL is the Gateway API's base URL (tests point it at a fake).
	URL string
	// SenderUsername is a verified channel that sends the codes ("" none).
	SenderUsername string
	// BudgetPerMinute caps Telegram messages per minute (0: off).
	BudgetPerMinute int
}

var telegramUsername = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{4,31}$`)

func (e *env) telegram(c *Config) {
	t := Telegram{Token: e.raw("TELEGRAM_GATEWAY_TOKEN"), URL: e.url("TELEGRAM_GATEWAY_URL", "https://gatewayapi.telegram.org"),
		SenderUsername:  e.str("TELEGRAM_SENDER_USERNAME", ""),
		BudgetPerMinute: e.integer("TELEGRAM_BUDGET_PER_MINUTE", 0, 0, 1_000_000)}
	if t.SenderUsername != "" && !telegramUsername.MatchString(t.SenderUsername) {
		e.bad("TELEGRAM_SENDER_USERNAME", "%q is not a Telegram username (5 to 32 letters, digits or _, no @)", t.SenderUsername)
	}
	c.Telegram = t
	if !c.Channels.Enabled[otp.ChannelTelegram] {
		return
	}
	if t.Token == "" {
		e.bad("TELEGRAM_GATEWAY_TOKEN", "required when CHANNELS has telegram (the Gateway API's token, from gateway.telegram.org)")
	}
	if c.Codes.Length > otp.TelegramMaxCodeLength {
		e.bad("CHANNELS", "telegram takes codes of 4 to %d digits; OTP_CODE_LENGTH is %d: drop telegram or shorten the code",
			otp.TelegramMaxCodeLength, c.Codes.Length)
	}
	if c.App.Production() && cleartext(t.URL) {
		e.bad("TELEGRAM_GATEWAY_URL", "%q: production needs https:// unless the host is loopback", logmask.URL(t.URL))
	}
	if c.HTTP.PublicURL == "" {
		e.warn("CHANNELS has telegram but PUBLIC_URL is unset: no delivery reports, so a workflow moves on from telegram only at its channel timeout")
	}
}

func (t Telegram) attrs() []slog.Attr {
	return []slog.Attr{slog.String("telegram_gateway_token", mask(t.Token)), slog.String("telegram_gateway_url", logmask.URL(t.URL)),
		slog.String("telegram_sender_username", t.SenderUsername), slog.Int("telegram_budget_per_minute", t.BudgetPerMinute)}
}
