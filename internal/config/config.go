// Package config reads the environment once, validates all of it, and
// reports every problem together so an operator fixes them in one pass.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/internal/messages"
)

// DevSecret is used in development when OTP_SECRET is unset, so that a
// fresh checkout runs; it is refused wherever a real SMS could be sent.
const DevSecret = "development-only-insecure-otp-secret-do-not-use"

// DevAPIKey is the development-only API key, under the same rule.
const DevAPIKey = "dev-api-key"

// Config is the whole configuration of both processes.
type Config struct {
	AppEnv    string
	RedisURL  string
	HTTPAddr  string
	APIKeys   []string
	OTPSecret []byte

	TwilioAccountSID          string
	TwilioAuthToken           string
	TwilioPhoneNumber         string
	TwilioMessagingServiceSID string
	TwilioAPIURL              string
	TwilioTimeout             time.Duration
	PublicURL                 string
	// TwilioWhatsAppFrom is the WhatsApp sender (E.164), and
	// TwilioWhatsAppContentSID an approved template (HX…) for the code.
	TwilioWhatsAppFrom       string
	TwilioWhatsAppContentSID string
	// TwilioVoiceFrom is the caller id of calls (default TWILIO_PHONE_NUMBER).
	TwilioVoiceFrom string

	// Channels are the enabled channels (CHANNELS).
	Channels map[string]bool
	// VoiceAllowedCountries narrows calls to these regions; empty: no
	// narrowing beyond AllowedCountries.
	VoiceAllowedCountries map[string]bool
	CallBudgetPerMinute   int
	// Brand (OTP_BRAND) names the service in every message; Brands
	// (OTP_BRANDS) are the others a request may choose.
	Brand  string
	Brands []string
	// WebOTPDomain ends SMS with "@domain #code" for browsers' WebOTP API.
	WebOTPDomain string
	// Messages is the catalog of texts: built-in, then OTP_TEMPLATES and
	// OTP_MESSAGE.
	Messages *messages.Catalog

	// Workflow is the default fallback workflow (OTP_WORKFLOW; empty: the
	// request's channel alone), ChannelTimeout how long a step waits.
	Workflow       []string
	ChannelTimeout time.Duration

	// WebhookURL (with WebhookSecret, whsec_…) receives signed
	// verification events, retried for WebhookMaxAge; at most
	// WebhookMaxPending wait, the oldest dropped beyond.
	WebhookURL         string
	WebhookSecret      string
	WebhookMaxAge      time.Duration
	WebhookMaxPending  int
	WebhookConcurrency int

	OTPTTL         time.Duration
	CodeLength     int
	MaxChecks      int
	MaxSends       int
	ResendCooldown time.Duration
	Retention      time.Duration
	DefaultRegion  string

	WorkerConcurrency int
	// QueueShards spreads the send queue over that many asynq queues, so
	// that on a Redis Cluster it is not one master's load (tasks.Shards).
	QueueShards     int
	ShutdownTimeout time.Duration
	// SMSRateLimit caps SMS per second across all workers; 0 is no cap.
	SMSRateLimit int
	// WorkerMetricsAddr serves the worker's /healthz, /readyz and /metrics.
	WorkerMetricsAddr string
	// AdminAddr, when set, serves net/http/pprof (both processes); keep it
	// off the public network.
	AdminAddr string
	// MonitoringReadOnly keeps the asynqmon dashboard from changing tasks.
	MonitoringReadOnly bool
	// MonitoringPassword, when set, is the dashboard's only password, so
	// nobody types an SMS-sending API key into a browser.
	MonitoringPassword string
	// APIAdminAddr, when set, moves /metrics and /monitoring/ off the public
	// listener onto this one.
	APIAdminAddr string

	// Fraud controls (see limits.go and the README's "Fraud controls").
	ToSendLimit         Rate            // sends per number across verifications (rolling)
	FailedCheckLimit    Rate            // wrong codes per number across verifications
	ClientIPSendLimits  []Rate          // sends per end-user IP, when the caller passes clientIp
	ClientIPCheckLimits []Rate          // wrong codes per end-user IP
	APIKeySendLimits    []Rate          // sends per API key
	PrefixSendLimits    []Rate          // sends per number prefix (pumping of ranges)
	PrefixDigits        int             // how many trailing digits a prefix drops
	BudgetPerMinute     int             // SMS per minute in total; 0 off
	CountryBudgets      map[string]int  // SMS per minute per region; "*" the rest
	AllowedCountries    map[string]bool // empty: all (ALLOWED_COUNTRIES unset or "*")
	RejectNonMobile     bool

	LogLevel  slog.Level
	LogFormat string

	// Warnings are non-fatal findings to log at start-up.
	Warnings []string
}

// Production reports whether APP_ENV is production.
func (c Config) Production() bool { return c.AppEnv == "production" }

// TwilioConfigured reports whether real SMS can be sent.
func (c Config) TwilioConfigured() bool { return c.TwilioAccountSID != "" || c.TwilioAuthToken != "" }

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

// Load reads and validates the configuration.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name, def string, min, max time.Duration) time.Duration {
		raw := str(name, def)
		d, err := time.ParseDuration(raw)
		if err != nil {
			bad(name, "%q is not a duration like 30s or 10m", raw)
			return 0
		}
		if d < min || d > max {
			bad(name, "%s outside %s..%s", d, min, max)
		}
		return d
	}
	integer := func(name string, def, min, max int) int {
		raw := str(name, strconv.Itoa(def))
		n, err := strconv.Atoi(raw)
		if err != nil {
			bad(name, "%q is not a whole number", raw)
			return 0
		}
		if n < min || n > max {
			bad(name, "%d outside %d..%d", n, min, max)
		}
		return n
	}

	c := Config{
		AppEnv:                    str("APP_ENV", "development"),
		RedisURL:                  str("REDIS_URL", "redis://localhost:6379/0"),
		HTTPAddr:                  str("HTTP_ADDR", ":8080"),
		TwilioAccountSID:          str("TWILIO_ACCOUNT_SID", ""),
		TwilioAuthToken:           str("TWILIO_AUTH_TOKEN", ""),
		TwilioPhoneNumber:         str("TWILIO_PHONE_NUMBER", ""),
		TwilioMessagingServiceSID: str("TWILIO_MESSAGING_SERVICE_SID", ""),
		TwilioAPIURL:              strings.TrimRight(str("TWILIO_API_URL", "https://api.twilio.com"), "/"),
		TwilioTimeout:             dur("TWILIO_TIMEOUT", "10s", time.Second, 60*time.Second),
		PublicURL:                 strings.TrimRight(str("PUBLIC_URL", ""), "/"),
		OTPTTL:                    dur("OTP_TTL", "10m", 5*time.Second, 24*time.Hour),
		CodeLength:                integer("OTP_CODE_LENGTH", 6, 4, 10),
		MaxChecks:                 integer("OTP_MAX_CHECKS", 5, 1, 100),
		MaxSends:                  integer("OTP_MAX_SENDS", 5, 1, 100),
		ResendCooldown:            dur("OTP_RESEND_COOLDOWN", "30s", 0, time.Hour),
		Retention:                 dur("OTP_RETENTION", "24h", time.Minute, 30*24*time.Hour),
		DefaultRegion:             strings.ToUpper(str("DEFAULT_REGION", "US")),
		TwilioWhatsAppFrom:        str("TWILIO_WHATSAPP_FROM", ""),
		TwilioWhatsAppContentSID:  str("TWILIO_WHATSAPP_CONTENT_SID", ""),
		TwilioVoiceFrom:           str("TWILIO_VOICE_FROM", str("TWILIO_PHONE_NUMBER", "")),
		WebOTPDomain:              strings.ToLower(str("OTP_WEBOTP_DOMAIN", "")),
		WorkerConcurrency:         integer("WORKER_CONCURRENCY", 50, 1, 10000),
		QueueShards:               integer("QUEUE_SHARDS", 1, 1, 256),
		ShutdownTimeout:           dur("WORKER_SHUTDOWN_TIMEOUT", "20s", time.Second, 10*time.Minute),
		SMSRateLimit:              integer("SMS_RATE_LIMIT", 0, 0, 100000),
		WorkerMetricsAddr:         str("WORKER_METRICS_ADDR", ":9090"),
		AdminAddr:                 str("ADMIN_ADDR", ""),
		APIAdminAddr:              str("API_ADMIN_ADDR", ""),
		MonitoringPassword:        strings.TrimSpace(getenv("MONITORING_PASSWORD")),
		LogFormat:                 strings.ToLower(str("LOG_FORMAT", "json")),
	}

	rates := func(name, def string) []Rate {
		r, err := ParseRates(str(name, def))
		if err != nil {
			bad(name, "%v", err)
		}
		return r
	}
	one := func(name, def string) Rate {
		r, err := ParseRate(str(name, def))
		if err != nil {
			bad(name, "%v", err)
		}
		return r
	}
	c.ToSendLimit = one("TO_SEND_LIMIT", "10/24h")
	c.FailedCheckLimit = one("FAILED_CHECK_LIMIT", "100/24h")
	c.ClientIPSendLimits = rates("CLIENT_IP_SEND_LIMITS", "5/1m,30/1h")
	c.ClientIPCheckLimits = rates("CLIENT_IP_CHECK_LIMITS", "20/1m,100/1h")
	// A key is one backend; 300 a minute is a large signup flow, and a
	// leaked key then costs at most 432,000 SMS a day, not 1.4 million.
	c.APIKeySendLimits = rates("API_KEY_SEND_LIMITS", "20/1s,300/1m")
	c.PrefixSendLimits = rates("PREFIX_SEND_LIMITS", "30/10m")
	c.PrefixDigits = integer("PREFIX_DIGITS", 3, 1, 6)
	c.BudgetPerMinute = integer("SMS_BUDGET_PER_MINUTE", 0, 0, 10_000_000)
	if b, err := ParseCountryBudgets(getenv("SMS_COUNTRY_BUDGETS")); err != nil {
		bad("SMS_COUNTRY_BUDGETS", "%v", err)
	} else {
		c.CountryBudgets = b
	}
	if a, err := ParseCountries(getenv("ALLOWED_COUNTRIES")); err != nil {
		bad("ALLOWED_COUNTRIES", "%v", err)
	} else {
		c.AllowedCountries = a
	}
	switch v := strings.ToLower(str("MONITORING_READ_ONLY", "true")); v {
	case "true", "1", "yes":
		c.MonitoringReadOnly = true
	case "false", "0", "no":
	default:
		bad("MONITORING_READ_ONLY", "%q is not true or false", v)
	}
	switch v := strings.ToLower(str("REJECT_NON_MOBILE", "false")); v {
	case "true", "1", "yes":
		c.RejectNonMobile = true
	case "false", "0", "no":
	default:
		bad("REJECT_NON_MOBILE", "%q is not true or false", v)
	}

	switch c.AppEnv {
	case "development", "production", "test":
	default:
		bad("APP_ENV", "%q is not development, production or test", c.AppEnv)
	}
	if err := c.LogLevel.UnmarshalText([]byte(str("LOG_LEVEL", "info"))); err != nil {
		bad("LOG_LEVEL", "%q is not debug, info, warn or error", getenv("LOG_LEVEL"))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "%q is not json or text", c.LogFormat)
	}
	if addrs := str("REDIS_CLUSTER_ADDRS", ""); addrs != "" {
		if u, err := clusterURL(addrs, strings.TrimSpace(getenv("REDIS_URL"))); err != nil {
			bad("REDIS_CLUSTER_ADDRS", "%v", err)
		} else {
			c.RedisURL = u
		}
	}
	if u, err := url.Parse(c.RedisURL); err != nil || !oneOf(u.Scheme, "redis", "rediss", "unix", "redis-sentinel", "redis-cluster") {
		bad("REDIS_URL", "want redis://, rediss://, unix://, redis-sentinel:// or redis-cluster:// (got %q)", RedactURL(c.RedisURL))
	}
	for _, k := range strings.Split(getenv("API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			if len(k) < 16 && (c.Production() || c.TwilioConfigured()) {
				bad("API_KEYS", "every key must be at least 16 characters once real SMS can be sent")
			}
			c.APIKeys = append(c.APIKeys, k)
		}
	}
	if s := getenv("OTP_SECRET"); s != "" {
		c.OTPSecret = []byte(s)
		if len(s) < 32 {
			bad("OTP_SECRET", "must be at least 32 bytes (got %d)", len(s))
		}
	}
	if !httpURL(c.TwilioAPIURL) {
		bad("TWILIO_API_URL", "%q is not an http(s) URL", c.TwilioAPIURL)
	}
	if c.PublicURL != "" && !httpURL(c.PublicURL) {
		bad("PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
	}
	// A malformed SID would fail every SMS at run time; Twilio's own
	// patterns (twilio_api_v2010.json) catch it at start-up.
	if c.TwilioAccountSID != "" && !accountSID.MatchString(c.TwilioAccountSID) {
		bad("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits, as Twilio's console shows it")
	}
	if c.TwilioMessagingServiceSID != "" && !messagingServiceSID.MatchString(c.TwilioMessagingServiceSID) {
		bad("TWILIO_MESSAGING_SERVICE_SID", "must be MG followed by 32 hex digits, as Twilio's console shows it")
	}
	if c.APIAdminAddr != "" && c.APIAdminAddr == c.HTTPAddr {
		bad("API_ADMIN_ADDR", "must differ from HTTP_ADDR: it exists to keep /metrics and /monitoring/ off the public listener")
	}
	if c.MonitoringPassword != "" && len(c.MonitoringPassword) < 16 {
		bad("MONITORING_PASSWORD", "must be at least 16 characters")
	}
	if !phonenumbers.GetSupportedRegions()[c.DefaultRegion] {
		bad("DEFAULT_REGION", "%q is not an ISO 3166 region libphonenumber knows", c.DefaultRegion)
	}
	c.Channels = map[string]bool{}
	for _, ch := range strings.Split(str("CHANNELS", "sms"), ",") {
		switch ch = strings.ToLower(strings.TrimSpace(ch)); ch {
		case "sms", "whatsapp", "call":
			c.Channels[ch] = true
		default:
			bad("CHANNELS", "%q is not sms, whatsapp or call", ch)
		}
	}
	if v, err := ParseCountries(getenv("VOICE_ALLOWED_COUNTRIES")); err != nil {
		bad("VOICE_ALLOWED_COUNTRIES", "%v", err)
	} else {
		c.VoiceAllowedCountries = v
	}
	c.CallBudgetPerMinute = integer("CALL_BUDGET_PER_MINUTE", 0, 0, 1_000_000)
	if c.TwilioWhatsAppFrom != "" && !e164.MatchString(c.TwilioWhatsAppFrom) {
		bad("TWILIO_WHATSAPP_FROM", "must be an E.164 number such as +14155238886 (without whatsapp:)")
	}
	if c.TwilioVoiceFrom != "" && !e164.MatchString(c.TwilioVoiceFrom) {
		bad("TWILIO_VOICE_FROM", "must be an E.164 number such as +14155552671")
	}
	if c.TwilioWhatsAppContentSID != "" && !contentSID.MatchString(c.TwilioWhatsAppContentSID) {
		bad("TWILIO_WHATSAPP_CONTENT_SID", "must be HX followed by 32 hex digits")
	}
	errs = append(errs, c.loadMessages(getenv)...)
	c.ChannelTimeout = dur("OTP_CHANNEL_TIMEOUT", "60s", 15*time.Second, 15*time.Minute)
	if w := str("OTP_WORKFLOW", ""); w != "" {
		for _, ch := range strings.Split(w, ",") {
			ch = strings.ToLower(strings.TrimSpace(ch))
			if !c.Channels[ch] {
				bad("OTP_WORKFLOW", "%q is not a channel CHANNELS enables", ch)
			}
			c.Workflow = append(c.Workflow, ch)
		}
		if len(c.Workflow) > 4 {
			bad("OTP_WORKFLOW", "has %d steps; a workflow has 1 to 4", len(c.Workflow))
		}
	}
	c.WebhookURL = str("WEBHOOK_URL", "")
	c.WebhookSecret = strings.TrimSpace(getenv("WEBHOOK_SECRET"))
	c.WebhookMaxAge = dur("WEBHOOK_MAX_AGE", "24h", time.Minute, 7*24*time.Hour)
	c.WebhookMaxPending = integer("WEBHOOK_MAX_PENDING", 100_000, 100, 10_000_000)
	c.WebhookConcurrency = integer("WEBHOOK_CONCURRENCY", 10, 1, 1000)
	if c.WebhookURL != "" {
		if !httpURL(c.WebhookURL) {
			bad("WEBHOOK_URL", "%q is not an http(s) URL", c.WebhookURL)
		}
		if err := validWebhookSecret(c.WebhookSecret); err != nil {
			bad("WEBHOOK_SECRET", "%v", err)
		}
	}
	// A send in flight must finish before asynq gives up on shutdown,
	// otherwise the task is re-run and the SMS may go out twice.
	if c.TwilioTimeout >= c.ShutdownTimeout {
		bad("TWILIO_TIMEOUT", "(%s) must be shorter than WORKER_SHUTDOWN_TIMEOUT (%s)", c.TwilioTimeout, c.ShutdownTimeout)
	}

	// Twilio: all or nothing.
	var missing []string
	if c.TwilioConfigured() || c.Production() {
		if c.TwilioAccountSID == "" {
			missing = append(missing, "TWILIO_ACCOUNT_SID")
		}
		if c.TwilioAuthToken == "" {
			missing = append(missing, "TWILIO_AUTH_TOKEN")
		}
		if c.Channels["sms"] && c.TwilioPhoneNumber == "" && c.TwilioMessagingServiceSID == "" {
			missing = append(missing, "TWILIO_PHONE_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
		}
		if c.Channels["whatsapp"] && c.TwilioWhatsAppFrom == "" && c.TwilioMessagingServiceSID == "" {
			missing = append(missing, "TWILIO_WHATSAPP_FROM or TWILIO_MESSAGING_SERVICE_SID (CHANNELS has whatsapp)")
		}
		if c.Channels["call"] && c.TwilioVoiceFrom == "" {
			missing = append(missing, "TWILIO_VOICE_FROM or TWILIO_PHONE_NUMBER (CHANNELS has call)")
		}
	}
	// Insecure development defaults are only tolerated while no real SMS
	// can leave the machine, and only for a pure development setup: a
	// process given OTP_SECRET but no API_KEYS is a deployment with a
	// forgotten variable, not a laptop, and must not accept the dev key.
	real := c.Production() || c.TwilioConfigured()
	if real || len(c.OTPSecret) > 0 {
		if len(c.APIKeys) == 0 {
			missing = append(missing, "API_KEYS")
		}
	}
	if real {
		if string(c.OTPSecret) == DevSecret {
			bad("OTP_SECRET", "is the published development secret")
		}
		for _, k := range c.APIKeys {
			if k == DevAPIKey {
				bad("API_KEYS", "contains the published development key")
			}
		}
	}
	if real {
		if len(c.OTPSecret) == 0 {
			missing = append(missing, "OTP_SECRET")
		}
	} else {
		if len(c.OTPSecret) == 0 {
			c.OTPSecret = []byte(DevSecret)
			c.Warnings = append(c.Warnings, "OTP_SECRET unset: using the insecure development secret")
		}
		if len(c.APIKeys) == 0 {
			c.APIKeys = []string{DevAPIKey}
			c.Warnings = append(c.Warnings, "API_KEYS unset: accepting the development key "+DevAPIKey)
		}
	}
	if c.Production() {
		errs = append(errs, productionRules(c, getenv)...)
	}
	if len(missing) > 0 {
		why := "required in production"
		switch {
		case c.TwilioConfigured() && !c.Production():
			why = "required once Twilio credentials are set"
		case !c.Production():
			why = "required once OTP_SECRET is set"
		}
		errs = append(errs, fmt.Errorf("missing %s (%s)", strings.Join(missing, ", "), why))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// LogValue masks secrets so a config can be logged whole.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_env", c.AppEnv),
		slog.String("redis_url", RedactURL(c.RedisURL)),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("api_keys", len(c.APIKeys)),
		slog.String("otp_secret", mask(string(c.OTPSecret))),
		slog.String("twilio_account_sid", c.TwilioAccountSID),
		slog.String("twilio_auth_token", mask(c.TwilioAuthToken)),
		slog.String("twilio_phone_number", c.TwilioPhoneNumber),
		slog.String("twilio_messaging_service_sid", c.TwilioMessagingServiceSID),
		slog.String("twilio_api_url", c.TwilioAPIURL),
		slog.String("public_url", c.PublicURL),
		slog.String("otp_ttl", c.OTPTTL.String()),
		slog.Int("otp_code_length", c.CodeLength),
		slog.Int("otp_max_checks", c.MaxChecks),
		slog.Int("otp_max_sends", c.MaxSends),
		slog.String("otp_resend_cooldown", c.ResendCooldown.String()),
		slog.Int("worker_concurrency", c.WorkerConcurrency),
		slog.Int("queue_shards", c.QueueShards),
		slog.Int("sms_rate_limit", c.SMSRateLimit),
		slog.String("to_send_limit", c.ToSendLimit.String()),
		slog.String("failed_check_limit", c.FailedCheckLimit.String()),
		slog.Any("client_ip_send_limits", c.ClientIPSendLimits),
		slog.Any("client_ip_check_limits", c.ClientIPCheckLimits),
		slog.Any("api_key_send_limits", c.APIKeySendLimits),
		slog.Any("prefix_send_limits", c.PrefixSendLimits),
		slog.Int("sms_budget_per_minute", c.BudgetPerMinute),
		slog.Any("sms_country_budgets", c.CountryBudgets),
		slog.Int("allowed_countries", len(c.AllowedCountries)),
		slog.String("monitoring_password", mask(c.MonitoringPassword)),
		slog.String("api_admin_addr", c.APIAdminAddr),
		slog.Bool("reject_non_mobile", c.RejectNonMobile),
		slog.Any("channels", c.Channels),
		slog.String("otp_brand", c.Brand),
		slog.Any("otp_brands", c.Brands),
		slog.Int("voice_allowed_countries", len(c.VoiceAllowedCountries)),
		slog.Int("call_budget_per_minute", c.CallBudgetPerMinute),
		slog.String("otp_webotp_domain", c.WebOTPDomain),
		slog.Any("otp_workflow", c.Workflow),
		slog.String("otp_channel_timeout", c.ChannelTimeout.String()),
		slog.String("webhook_url", RedactURL(c.WebhookURL)),
		slog.String("webhook_secret", mask(c.WebhookSecret)),
	)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// RedactURL hides the password of a URL for logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return redactedURL(u)
}

// Twilio's patterns for the SIDs, from twilio_api_v2010.json.
var (
	accountSID          = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messagingServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	contentSID          = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	e164                = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// productionRules are what production refuses beyond missing variables: a
// deployment without a spending cap, and settings below NIST SP 800-63B.
func productionRules(c Config, getenv func(string) string) []error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	// SMS pumping turns an open sender into a bill: production must say
	// where codes may go, and what they may cost in total.
	if strings.TrimSpace(getenv("ALLOWED_COUNTRIES")) == "" {
		bad("ALLOWED_COUNTRIES", "required in production: list the countries you serve (e.g. US,CA,GB), or * for every country as a deliberate choice")
	}
	if c.Channels["call"] && strings.TrimSpace(getenv("VOICE_ALLOWED_COUNTRIES")) == "" {
		bad("VOICE_ALLOWED_COUNTRIES", "required in production when CHANNELS has call: calls are the toll-fraud channel; list the countries to call, or * on purpose")
	}
	if strings.TrimSpace(getenv("OTP_BRAND")) == "" {
		bad("OTP_BRAND", "required in production: the name your users see in every message (\"Your Acme verification code is …\")")
	}
	if _, star := c.CountryBudgets["*"]; c.BudgetPerMinute <= 0 && !star {
		bad("SMS_BUDGET_PER_MINUTE", "required in production: set SMS_BUDGET_PER_MINUTE > 0, or a * entry in SMS_COUNTRY_BUDGETS, so that the total is capped")
	}
	// NIST SP 800-63B, 5.1.3 and 5.2.2.
	if c.CodeLength < 6 {
		bad("OTP_CODE_LENGTH", "%d is below the 6 digits NIST SP 800-63B requires in production", c.CodeLength)
	}
	if c.OTPTTL > 10*time.Minute {
		bad("OTP_TTL", "%s is above the 10 minutes NIST SP 800-63B allows in production", c.OTPTTL)
	}
	if f := c.FailedCheckLimit; f.Off() || f.Count > maxFailuresPer24h(f.Period) {
		bad("FAILED_CHECK_LIMIT", "%s: production needs a lock after at most 100 wrong codes per 24h (NIST SP 800-63B)", f)
	}
	// A writable dashboard must not open with a key that sends SMS, typed
	// into a browser.
	if !c.MonitoringReadOnly && c.MonitoringPassword == "" {
		bad("MONITORING_PASSWORD", "required in production when MONITORING_READ_ONLY=false")
	}
	// Over http:// the auth token (Basic auth to Twilio) and the signed
	// callbacks travel in clear text, unless they never leave the host.
	for _, u := range []struct{ name, url string }{{"TWILIO_API_URL", c.TwilioAPIURL}, {"PUBLIC_URL", c.PublicURL}, {"WEBHOOK_URL", c.WebhookURL}} {
		if cleartext(u.url) {
			bad(u.name, "%q: production needs https:// unless the host is loopback", u.url)
		}
	}
	return errs
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

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
