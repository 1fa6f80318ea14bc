// Package config reads the environment once, validates all of it, and
// reports every problem together so an operator fixes them in one pass.
//
// Each component (app.go, redis.go, http.go, codes.go, twilio.go,
// channels.go, messages.go, limits.go, fraud.go, webhooks.go, worker.go) reads and
// checks its own variables; the rules that span components (what
// production requires, the development defaults) are in rules.go.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/otpd/otpd/otp"

	"github.com/otpd/otpd/internal/logmask"
)

// DevSecret is used in development when OTP_SECRET is unset, so that a
// fresh checkout runs; it is refused wherever a real SMS could be sent.
const DevSecret = "development-only-insecure-otp-secret-do-not-use"

// DevAPIKey is the development-only API key, under the same rule.
const DevAPIKey = "dev-api-key"

// Config is the whole configuration of both processes, by component.
type Config struct {
	App        App
	Redis      Redis
	HTTP       HTTP
	Monitoring Monitoring
	Codes      Codes
	Twilio     Twilio
	Telegram   Telegram
	// Prices estimate each send's cost (CHANNEL_PRICES), for metrics.
	Prices   otp.Prices
	Channels Channels
	Messages Messages
	Limits   Limits
	Fraud    Fraud
	Webhooks Webhooks
	Worker   Worker
	// Tenants are the apps of TENANTS_FILE, beside the default one that
	// API_KEYS and the rest of the environment make.
	Tenants []Tenant

	// Warnings are non-fatal findings to log at start-up.
	Warnings []string
}

// WithDotEnv returns a getenv that reads real environment variables first
// and falls back to the KEY=VALUE lines of path (if it exists), as the
// tutorial's dotenv did.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	vals, err := godotenv.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

// Load reads and validates the configuration both processes share.
func Load(getenv func(string) string) (Config, error) { return LoadFor(getenv, "") }

// LoadFor is Load plus the rules of one process, "api" or "worker": what
// only that process uses, only it requires (a worker's deployment need not
// name the api's admin listener).
func LoadFor(getenv func(string) string, process string) (Config, error) {
	e := &env{get: getenv, process: process}
	c := Config{
		App:        e.app(),
		Redis:      e.redis(),
		HTTP:       e.http(),
		Monitoring: e.monitoring(),
		Codes:      e.codes(),
		Twilio:     e.twilio(),
		Channels:   e.channels(),
		Limits:     e.limits(),
		Fraud:      e.fraud(),
		Webhooks:   e.webhooks(),
		Worker:     e.worker(),
		Prices:     e.prices(),
	}
	e.messages(&c)
	e.telegram(&c)
	e.tenants(&c)
	e.across(&c)
	e.credentials(&c)
	if c.App.Production() {
		e.production(c)
		e.privateListeners(c)
	}
	c.Warnings = append(c.Warnings, e.warnings...)
	if err := errors.Join(e.errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// LogValue masks secrets so a config can be logged whole. The attributes
// are flat, each named after its variable.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, part := range [][]slog.Attr{c.App.attrs(), c.Redis.attrs(), c.HTTP.attrs(), c.Codes.attrs(),
		c.Twilio.attrs(), c.Telegram.attrs(), c.Worker.attrs(), c.Limits.attrs(), c.Fraud.attrs(), c.Monitoring.attrs(), c.Channels.attrs(),
		c.Messages.attrs(), c.Webhooks.attrs(), tenantAttrs(c.Tenants), pricesAttrs(c.Prices)} {
		attrs = append(attrs, part...)
	}
	return slog.GroupValue(attrs...)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// env reads variables and collects every problem, so that Load reports
// them all at once.
type env struct {
	get      func(string) string
	process  string // "api", "worker", or "" for the rules both share
	errs     []error
	warnings []string
}

func (e *env) bad(name, format string, a ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
}

func (e *env) warn(s string) { e.warnings = append(e.warnings, s) }

// raw is the variable as set, trimmed.
func (e *env) raw(name string) string { return strings.TrimSpace(e.get(name)) }

func (e *env) str(name, def string) string {
	if v := e.raw(name); v != "" {
		return v
	}
	return def
}

func (e *env) dur(name, def string, min, max time.Duration) time.Duration {
	raw := e.str(name, def)
	d, err := time.ParseDuration(raw)
	if err != nil {
		e.bad(name, "%q is not a duration like 30s or 10m", raw)
		return 0
	}
	if d < min || d > max {
		e.bad(name, "%s outside %s..%s", d, min, max)
	}
	return d
}

func (e *env) integer(name string, def, min, max int) int {
	raw := e.str(name, strconv.Itoa(def))
	n, err := strconv.Atoi(raw)
	if err != nil {
		e.bad(name, "%q is not a whole number", raw)
		return 0
	}
	if n < min || n > max {
		e.bad(name, "%d outside %d..%d", n, min, max)
	}
	return n
}

func (e *env) boolean(name string, def bool) bool {
	switch v := strings.ToLower(e.str(name, strconv.FormatBool(def))); v {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	default:
		e.bad(name, "%q is not true or false", v)
		return def
	}
}

// url is an http(s) URL without its trailing slash ("" when unset).
func (e *env) url(name, def string) string {
	raw := e.str(name, def)
	u := strings.TrimRight(raw, "/")
	if raw != "" && !httpURL(u) {
		e.bad(name, "%q is not an http(s) URL", logmask.URL(u))
	}
	return u
}

func (e *env) rates(name, def string) []Rate {
	r, err := ParseRates(e.str(name, def))
	if err != nil {
		e.bad(name, "%v", err)
	}
	return r
}

func (e *env) rate(name, def string) Rate {
	r, err := ParseRate(e.str(name, def))
	if err != nil {
		e.bad(name, "%v", err)
	}
	return r
}

func (e *env) countries(name string) map[string]bool {
	c, err := ParseCountries(e.get(name))
	if err != nil {
		e.bad(name, "%v", err)
	}
	return c
}
