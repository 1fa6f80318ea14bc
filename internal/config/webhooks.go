package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/otpd/otpd/internal/logmask"
)

// Webhooks is where signed verification events go.
type Webhooks struct {
	// URL (with Secret, whsec_…) receives the events, retried for MaxAge;
	// at most MaxPending wait, the oldest dropped beyond; Concurrency are
	// delivered at once.
	URL         string
	Secret      string
	MaxAge      time.Duration
	MaxPending  int
	Concurrency int
}

// MaxWebhookAge is the longest WEBHOOK_MAX_AGE: no event is retried longer,
// whatever the configuration.
const MaxWebhookAge = 7 * 24 * time.Hour

func (e *env) webhooks() Webhooks {
	w := Webhooks{
		URL:         e.str("WEBHOOK_URL", ""),
		Secret:      e.raw("WEBHOOK_SECRET"),
		MaxAge:      e.dur("WEBHOOK_MAX_AGE", "24h", time.Minute, MaxWebhookAge),
		MaxPending:  e.integer("WEBHOOK_MAX_PENDING", 100_000, 100, 10_000_000),
		Concurrency: e.integer("WEBHOOK_CONCURRENCY", 10, 1, 1000),
	}
	if w.URL != "" {
		if !httpURL(w.URL) {
			e.bad("WEBHOOK_URL", "%q is not an http(s) URL", logmask.URL(w.URL))
		}
		if err := validWebhookSecret(w.Secret); err != nil {
			e.bad("WEBHOOK_SECRET", "%v", err)
		}
	}
	return w
}

// validWebhookSecret checks a Standard Webhooks secret: whsec_ and the
// base64 of at least 24 random bytes.
func validWebhookSecret(s string) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	switch {
	case s == "":
		return errors.New("required with WEBHOOK_URL: whsec_ and the base64 of 24 to 64 random bytes (openssl rand -base64 32)")
	case !strings.HasPrefix(s, "whsec_") || err != nil:
		return errors.New("must be whsec_ followed by base64")
	case len(raw) < 24 || len(raw) > 64:
		return fmt.Errorf("decodes to %d bytes; use 24 to 64", len(raw))
	}
	return nil
}

func (w Webhooks) attrs() []slog.Attr {
	return []slog.Attr{slog.String("webhook_url", logmask.URL(w.URL)), slog.String("webhook_secret", mask(w.Secret))}
}
