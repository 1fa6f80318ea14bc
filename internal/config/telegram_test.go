package config_test

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/config"
)

func TestTelegramSettings(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string // in the error; none: valid
	}{
		{"off by default", map[string]string{}, nil},
		// A Telegram token sends real messages: the secrets are required.
		{"enabled", map[string]string{"CHANNELS": "telegram,sms", "TELEGRAM_GATEWAY_TOKEN": "tok",
			"TELEGRAM_SENDER_USERNAME": "acme_codes", "TELEGRAM_BUDGET_PER_MINUTE": "100",
			"OTP_SECRET": secret, "API_KEYS": "key-aaaaaaaaaaaaaaaa", "TWILIO_ACCOUNT_SID": testSID,
			"TWILIO_AUTH_TOKEN": "twilio-token", "TWILIO_PHONE_NUMBER": "+15005550006"}, nil},
		{"no token", map[string]string{"CHANNELS": "telegram"}, []string{"TELEGRAM_GATEWAY_TOKEN: required when CHANNELS has telegram"}},
		{"code too long", map[string]string{"CHANNELS": "telegram", "TELEGRAM_GATEWAY_TOKEN": "tok", "OTP_CODE_LENGTH": "9"},
			[]string{"telegram takes codes of 4 to 8 digits; OTP_CODE_LENGTH is 9"}},
		{"bad username and budget", map[string]string{"TELEGRAM_SENDER_USERNAME": "@x", "TELEGRAM_BUDGET_PER_MINUTE": "-1"},
			[]string{"TELEGRAM_SENDER_USERNAME", "TELEGRAM_BUDGET_PER_MINUTE"}},
		{"cleartext in production", map[string]string{"APP_ENV": "production", "CHANNELS": "telegram,sms",
			"TELEGRAM_GATEWAY_TOKEN": "tok", "TELEGRAM_GATEWAY_URL": "http://gateway.example"},
			[]string{`TELEGRAM_GATEWAY_URL: "http://gateway.example": production needs https://`}},
		{"unknown channel", map[string]string{"CHANNELS": "pigeon"}, []string{`"pigeon" is not sms, whatsapp, call or telegram`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load(env(c.env))
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c.env["TELEGRAM_GATEWAY_TOKEN"] != "" && (cfg.Telegram.Token != "tok" || cfg.Telegram.URL != "https://gatewayapi.telegram.org" || cfg.Telegram.BudgetPerMinute != 100) {
					t.Fatalf("telegram: %+v", cfg.Telegram)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestChannelPrices(t *testing.T) {
	c, err := config.Load(env(map[string]string{"CHANNEL_PRICES": "sms=0.0079, telegram=0.01,sms:gb=0.04,call=0.013", "CHANNEL_PRICE_CURRENCY": "EUR"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		channel, region string
		want            float64
		ok              bool
	}{
		{"sms", "US", 0.0079, true}, {"sms", "GB", 0.04, true}, {"telegram", "GB", 0.01, true}, {"whatsapp", "US", 0, false},
	} {
		if got, ok := c.Prices.Of(w.channel, w.region); got != w.want || ok != w.ok {
			t.Errorf("price of %s to %s: %v %v, want %v %v", w.channel, w.region, got, ok, w.want, w.ok)
		}
	}
	if c.Prices.Currency != "EUR" {
		t.Errorf("currency %q", c.Prices.Currency)
	}
	_, err = config.Load(env(map[string]string{"CHANNEL_PRICES": "sms=-1,pigeon=1,sms:XX=1,sms", "CHANNEL_PRICE_CURRENCY": "euros"}))
	for _, w := range []string{`"sms=-1"`, `"pigeon" is not`, `"XX" is not an ISO country code`, `"sms" is not channel=price`, `CHANNEL_PRICE_CURRENCY: "euros"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s: %v", w, err)
		}
	}
}
