package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/otpd/otpd/internal/logmask"
)

// across applies the rules that span components.
func (e *env) across(c *Config) {
	// A send in flight must finish before asynq gives up on shutdown,
	// otherwise the task is re-run and the SMS may go out twice.
	if c.Twilio.Timeout >= c.Worker.ShutdownTimeout {
		e.bad("TWILIO_TIMEOUT", "(%s) must be shorter than WORKER_SHUTDOWN_TIMEOUT (%s)", c.Twilio.Timeout, c.Worker.ShutdownTimeout)
	}
	if c.App.Production() && c.Channels.Enabled["call"] && c.Limits.CallBudgetPerMinute == 0 {
		e.warn("CALL_BUDGET_PER_MINUTE is off: calls are capped only by the SMS budgets, although each costs more")
	}
}

// credentials checks the secrets, keys and Twilio settings. Insecure
// development defaults are only tolerated while no real SMS can leave the
// machine, and only for a pure development setup: a process given
// OTP_SECRET but no API_KEYS is a deployment with a forgotten variable, not
// a laptop, and must not accept the development key.
func (e *env) credentials(c *Config) {
	// A Telegram token sends real, paid messages as surely as Twilio's.
	real := c.App.Production() || c.Twilio.Configured() || c.Telegram.Token != ""
	var missing []string
	if real {
		// Twilio: all or nothing.
		missing = c.Twilio.missing(c.Channels.Enabled)
	}
	keys := c.allAPIKeys()
	for _, k := range keys {
		if len(k) < 16 && real {
			e.bad("API_KEYS", "every key (TENANTS_FILE's too) must be at least 16 characters once real SMS can be sent")
		}
	}
	if (real || len(c.Codes.Secret) > 0) && len(keys) == 0 {
		missing = append(missing, "API_KEYS")
	}
	switch {
	case real:
		if string(c.Codes.Secret) == DevSecret {
			e.bad("OTP_SECRET", "is the published development secret")
		}
		if slices.Contains(keys, DevAPIKey) {
			e.bad("API_KEYS", "contains the published development key (or TENANTS_FILE does)")
		}
		if len(c.Codes.Secret) == 0 {
			missing = append(missing, "OTP_SECRET")
		}
	default:
		if len(c.Codes.Secret) == 0 {
			c.Codes.Secret = []byte(DevSecret)
			e.warn("OTP_SECRET unset: using the insecure development secret")
		}
		if len(keys) == 0 {
			c.HTTP.APIKeys = []string{DevAPIKey}
			e.warn("API_KEYS unset: accepting the development key " + DevAPIKey)
		}
	}
	if len(missing) > 0 {
		why := "required in production"
		switch {
		case c.Twilio.Configured() && !c.App.Production():
			why = "required once Twilio credentials are set"
		case !c.App.Production():
			why = "required once OTP_SECRET is set"
		}
		e.errs = append(e.errs, fmt.Errorf("missing %s (%s)", strings.Join(missing, ", "), why))
	}
}

// production is what production refuses beyond missing variables: a
// deployment without a spending cap, and settings below NIST SP 800-63B.
func (e *env) production(c Config) {
	// SMS pumping turns an open sender into a bill: production must say
	// where codes may go, and what they may cost in total.
	if e.raw("ALLOWED_COUNTRIES") == "" {
		e.bad("ALLOWED_COUNTRIES", "required in production: list the countries you serve (e.g. US,CA,GB), or * for every country as a deliberate choice")
	}
	if c.Channels.Enabled["call"] && e.raw("VOICE_ALLOWED_COUNTRIES") == "" {
		e.bad("VOICE_ALLOWED_COUNTRIES", "required in production when CHANNELS has call: calls are the toll-fraud channel; list the countries to call, or * on purpose")
	}
	if e.raw("OTP_BRAND") == "" {
		e.bad("OTP_BRAND", "required in production: the name your users see in every message (\"Your Acme verification code is …\")")
	}
	if _, star := c.Limits.CountryBudgets["*"]; c.Limits.BudgetPerMinute <= 0 && !star {
		e.bad("SMS_BUDGET_PER_MINUTE", "required in production: set SMS_BUDGET_PER_MINUTE > 0, or a * entry in SMS_COUNTRY_BUDGETS, so that the total is capped")
	}
	// NIST SP 800-63B, 5.1.3 and 5.2.2.
	if c.Codes.Length < 6 {
		e.bad("OTP_CODE_LENGTH", "%d is below the 6 digits NIST SP 800-63B requires in production", c.Codes.Length)
	}
	if c.Codes.TTL > 10*time.Minute {
		e.bad("OTP_TTL", "%s is above the 10 minutes NIST SP 800-63B allows in production", c.Codes.TTL)
	}
	if f := c.Limits.FailedChecks; f.Off() || f.Count > maxFailuresPer24h(f.Period) {
		e.bad("FAILED_CHECK_LIMIT", "%s: production needs a lock after at most 100 wrong codes per 24h (NIST SP 800-63B)", f)
	}
	// A writable dashboard must not open with a key that sends SMS, typed
	// into a browser.
	if !c.Monitoring.ReadOnly && c.Monitoring.Password == "" {
		e.bad("MONITORING_PASSWORD", "required in production when MONITORING_READ_ONLY=false")
	}
	// Over http:// the auth token (Basic auth to Twilio) and the signed
	// callbacks travel in clear text, unless they never leave the host.
	for _, u := range []struct{ name, url string }{{"TWILIO_API_URL", c.Twilio.APIURL}, {"PUBLIC_URL", c.HTTP.PublicURL}, {"WEBHOOK_URL", c.Webhooks.URL}} {
		if cleartext(u.url) {
			e.bad(u.name, "%q: production needs https:// unless the host is loopback", logmask.URL(u.url))
		}
	}
}

// privateListeners keeps production's metrics off the public network by
// an explicit choice: /metrics has no auth, and its per-country send and
// approval counts are what a pumping operation watches to stay under the
// thresholds. The api refuses to serve them on its public listener; the
// worker's default listener is loopback, which a container platform's
// probes and scrapers cannot reach, so it says so.
func (e *env) privateListeners(c Config) {
	if e.process == "api" && c.HTTP.AdminAddr == "" {
		e.bad("API_ADMIN_ADDR", "required in production: /metrics and /monitoring/ must not be served on the public listener (HTTP_ADDR); "+
			"set a port your Service and Ingress do not expose (the manifests in deploy/ use :9091, scraped in-cluster) or 127.0.0.1:9091")
	}
	if e.process == "worker" && e.raw("WORKER_METRICS_ADDR") == "" {
		e.warn("WORKER_METRICS_ADDR unset: /healthz, /readyz and /metrics listen on " + DefaultWorkerMetricsAddr +
			" only; in a container, set it (e.g. :9090) for probes and scraping from outside")
	}
}

// maxFailuresPer24h is the largest failure lock count for period that
// keeps within NIST's 100 wrong codes a day: the count clears after a quiet
// period, so a day holds up to ceil(24h/period) locks' worth. Divided, not
// multiplied, so no count can overflow into a pass.
func maxFailuresPer24h(period time.Duration) int {
	windows := (24*time.Hour + period - 1) / period
	return int(100 / max(windows, 1))
}

// cleartext reports an http:// URL whose host is not loopback.
func cleartext(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func httpURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
