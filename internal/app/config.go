package app

import (
	"log/slog"
	"time"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/devsms"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/telegram"
	"github.com/otpd/otpd/twilio"
)

// FromConfig is what Build makes of the configuration.
func FromConfig(cfg config.Config, log *slog.Logger) Options {
	o := Options{
		Policy: policy(cfg), Secret: cfg.Codes.Secret, CodeLength: cfg.Codes.Length,
		Limits: limits(cfg.Limits, cfg.Telegram.BudgetPerMinute), IdempotencyKeys: cfg.Limits.APIKeyIdempotencyKeys,
		Guard: guard(cfg.Fraud), QueueShards: cfg.Redis.QueueShards,
		MinReplicas: cfg.Redis.MinReplicas, MinReplicasTimeout: cfg.Redis.MinReplicasTimeout,
		Events: cfg.Webhooks.URL != "", Backlog: backlog(cfg.Webhooks, cfg.Tenants), Catalog: cfg.Messages.Catalog, Log: log,
		SMSRateLimit: cfg.Worker.SMSRateLimit,
	}
	for _, t := range cfg.Tenants {
		o.Tenants = append(o.Tenants, tenant(o.Policy, t))
	}
	return o
}

// tenant is a tenant of TENANTS_FILE as Build takes it: the default
// tenant's policy with what the tenant chose of its own.
func tenant(base otp.Policy, t config.Tenant) Tenant {
	p := base
	p.Tenant = t.Name
	if t.Brand != "" || len(t.Brands) > 0 {
		p.Brand, p.Brands = t.Brand, map[string]bool{}
		if p.Brand == "" {
			p.Brand = base.Brand
		}
		for _, b := range append([]string{p.Brand}, t.Brands...) {
			p.Brands[b] = true
		}
	}
	if t.Channels != nil {
		p.Channels = t.Channels
	}
	if t.Workflow != nil {
		p.Workflow = t.Workflow
	}
	own := redisstore.TenantLimits{BudgetPerMinute: t.BudgetPerMinute, CallBudgetPerMinute: t.CallBudgetPerMinute}
	for _, r := range t.Sends {
		own.Sends = append(own.Sends, redisstore.Rate{Count: r.Count, Period: r.Period})
	}
	return Tenant{Policy: p, Limits: own, Catalog: t.Catalog, Events: t.WebhookURL != ""}
}

// policy is the lifecycle's rules, as the otp package takes them.
func policy(cfg config.Config) otp.Policy {
	p := otp.Policy{
		TTL: cfg.Codes.TTL, Retention: cfg.Codes.Retention, Cooldown: cfg.Codes.Cooldown,
		MaxSends: cfg.Codes.MaxSends, MaxChecks: cfg.Codes.MaxChecks, DefaultRegion: cfg.Codes.DefaultRegion,
		SendCap:               otp.Window{Count: cfg.Limits.ToSend.Count, Period: cfg.Limits.ToSend.Period},
		FailureLock:           otp.Window{Count: cfg.Limits.FailedChecks.Count, Period: cfg.Limits.FailedChecks.Period},
		PrefixDigits:          cfg.Limits.PrefixDigits,
		Prices:                cfg.Prices,
		AllowedCountries:      cfg.Limits.AllowedCountries,
		RejectNonMobile:       cfg.Limits.RejectNonMobile,
		BlockedNumberTypes:    cfg.Fraud.BlockedNumberTypes,
		Fraud:                 cfg.Fraud.Mode,
		SafeList:              cfg.Fraud.SafeList,
		Channels:              cfg.Channels.Enabled,
		VoiceAllowedCountries: cfg.Channels.VoiceAllowedCountries,
		Brand:                 cfg.Messages.Brand,
		Brands:                map[string]bool{cfg.Messages.Brand: true},
		Workflow:              cfg.Channels.Workflow,
		ChannelTimeout:        cfg.Channels.Timeout,
		// A claim younger than the HTTP timeout may belong to a live
		// request; only past it (plus slack for clock skew between
		// workers) is the owner presumed dead and the message sent again.
		StaleClaim: cfg.Twilio.Timeout + 5*time.Second,
	}
	for _, b := range cfg.Messages.Brands {
		p.Brands[b] = true
	}
	if cfg.HTTP.PublicURL != "" && cfg.Telegram.Token != "" {
		p.TelegramCallback = cfg.HTTP.PublicURL + api.TelegramCallbackPath
	}
	if cfg.HTTP.PublicURL != "" && cfg.Twilio.Configured() {
		p.StatusCallback = cfg.HTTP.PublicURL + api.StatusCallbackPath
	}
	return p
}

// backlog bounds the events waiting for delivery. A process with
// WEBHOOK_URL, or a tenant's webhook_url, bounds them by its WEBHOOK_MAX_AGE and WEBHOOK_MAX_PENDING.
// One without still gives up the events no configuration would retry any
// longer (older than the longest WEBHOOK_MAX_AGE): left from an api that
// queued them for a worker without WEBHOOK_URL, or from a WEBHOOK_URL since
// removed. It leaves their number alone: its own WEBHOOK_MAX_PENDING, unset,
// may be below the one the delivering side has.
func backlog(w config.Webhooks, tenants []config.Tenant) tasks.BacklogConfig {
	receiver := w.URL != ""
	for _, t := range tenants {
		receiver = receiver || t.WebhookURL != ""
	}
	if !receiver {
		return tasks.BacklogConfig{MaxAge: config.MaxWebhookAge}
	}
	return tasks.BacklogConfig{MaxAge: w.MaxAge, MaxPending: int64(w.MaxPending)}
}

// limits are the cross-number limits, as the store takes them.
func limits(l config.Limits, telegramBudget int) redisstore.LimitConfig {
	rates := func(rs []config.Rate) []redisstore.Rate {
		out := make([]redisstore.Rate, len(rs))
		for i, r := range rs {
			out[i] = redisstore.Rate{Count: r.Count, Period: r.Period}
		}
		return out
	}
	return redisstore.LimitConfig{
		ClientIPSends: rates(l.ClientIPSends), ClientIPChecks: rates(l.ClientIPChecks),
		APIKeySends: rates(l.APIKeySends), APIKeyWrites: rates(l.APIKeyWrites), PrefixSends: rates(l.PrefixSends),
		BudgetPerMinute: l.BudgetPerMinute, CountryBudgets: l.CountryBudgets,
		CallBudgetPerMinute: l.CallBudgetPerMinute, TelegramBudgetPerMinute: telegramBudget,
	}
}

// guard is the fraud guard's configuration, as the store takes it (nil:
// FRAUD_GUARD=off).
func guard(f config.Fraud) *redisstore.GuardConfig {
	if f.Mode == otp.FraudOff {
		return nil
	}
	return &redisstore.GuardConfig{
		Shadow: f.Mode == otp.FraudShadow, Window: f.Window, Grace: f.Grace, BlockTTL: f.BlockTTL,
		MinSends: f.MinSends, CountryMinSends: f.CountryMinSends, MinConversion: f.MinConversion,
	}
}

// NewSender is the worker's gateway: Telegram's for the telegram channel
// when TELEGRAM_GATEWAY_TOKEN is set, and Twilio for the others, or without
// its credentials (development only: config refuses that elsewhere) the
// console. It also takes back what Telegram has not shown (otp.Revoker).
func NewSender(cfg config.Config, log *slog.Logger) (otp.Sender, error) {
	g := gateways{}
	if tg := cfg.Telegram; tg.Token != "" {
		c, err := telegram.New(telegram.Config{Token: tg.Token, APIURL: tg.URL, SenderUsername: tg.SenderUsername,
			Timeout: cfg.Twilio.Timeout, Concurrency: cfg.Worker.Concurrency})
		if err != nil {
			return nil, err
		}
		g.telegram = c
	}
	if !cfg.Twilio.Configured() {
		log.Warn("DEVELOPMENT ONLY: no Twilio credentials, SMS are printed to this log instead of sent")
		g.fallback = devsms.New(log)
		return g, nil
	}
	tw, err := twilioSender(cfg)
	g.fallback = tw
	return g, err
}

func twilioSender(cfg config.Config) (otp.Sender, error) {
	t := cfg.Twilio
	return twilio.New(twilio.Config{
		AccountSID: t.AccountSID, AuthToken: t.AuthToken,
		From: t.PhoneNumber, MessagingServiceSID: t.MessagingServiceSID,
		WhatsAppFrom: t.WhatsAppFrom, WhatsAppContentSID: t.WhatsAppContentSID,
		VoiceFrom: t.VoiceFrom, APIURL: t.APIURL, Timeout: t.Timeout,
		Concurrency: cfg.Worker.Concurrency,
	})
}
