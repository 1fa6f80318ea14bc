package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"

	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/internal/messages"
	"github.com/otpd/otpd/otp"
)

// Tenant is one app of TENANTS_FILE: its own keys, and what it may set of
// its own. What it leaves out is the environment's (OTP_BRAND, CHANNELS,
// OTP_WORKFLOW, the texts), except its receiver and its own limits, which
// are its alone or none.
type Tenant struct {
	Name    string
	APIKeys []string
	// Brand names it in messages whose request named none, Brands the
	// others a request may choose; "" and nil: OTP_BRAND and OTP_BRANDS.
	Brand  string
	Brands []string
	// Channels it may use (nil: CHANNELS), and its default workflow (nil:
	// OTP_WORKFLOW, when its channels allow it).
	Channels map[string]bool
	Workflow []string
	// Catalog is its texts (templates: a file like OTP_TEMPLATES; nil:
	// the environment's).
	Catalog *messages.Catalog
	// WebhookURL and WebhookSecret receive its events ("" none).
	WebhookURL, WebhookSecret string
	// Sends limits all of its keys together; BudgetPerMinute caps its
	// sends, CallBudgetPerMinute its calls (0: off).
	Sends               []Rate
	BudgetPerMinute     int
	CallBudgetPerMinute int
	// FraudAdmin lets its keys list and lift fraud blocks and edit the
	// safe list, which act on every tenant (the default tenant's keys
	// always may).
	FraudAdmin bool
}

// tenantFile is TENANTS_FILE as written.
type tenantFile struct {
	Tenants []tenantEntry `yaml:"tenants"`
}

type tenantEntry struct {
	Name                string   `yaml:"name"`
	APIKeys             []string `yaml:"api_keys"`
	Brand               string   `yaml:"brand"`
	Brands              []string `yaml:"brands"`
	Channels            []string `yaml:"channels"`
	Workflow            []string `yaml:"workflow"`
	Templates           string   `yaml:"templates"`
	WebhookURL          string   `yaml:"webhook_url"`
	WebhookSecret       string   `yaml:"webhook_secret"`
	SendLimits          string   `yaml:"send_limits"`
	BudgetPerMinute     int      `yaml:"sms_budget_per_minute"`
	CallBudgetPerMinute int      `yaml:"call_budget_per_minute"`
	FraudAdmin          bool     `yaml:"fraud_admin"`
}

// minTenantKey is the shortest key a tenant may have, in any APP_ENV.
const minTenantKey = 16

// maxTenantsFile bounds what start-up reads: a tenant list, not a dump.
const maxTenantsFile = 1 << 20

// tenants reads TENANTS_FILE, after the channels, codes and messages it
// falls back on. Every problem is reported, named by tenant.
func (e *env) tenants(c *Config) {
	path := e.raw("TENANTS_FILE")
	if path == "" {
		return
	}
	raw, err := os.ReadFile(path)
	switch {
	case err != nil:
		e.bad("TENANTS_FILE", "%v", err)
		return
	case len(raw) > maxTenantsFile:
		e.bad("TENANTS_FILE", "%s is over %d bytes", path, maxTenantsFile)
		return
	}
	var f tenantFile
	if err := yaml.NewDecoder(bytes.NewReader(raw), yaml.DisallowUnknownField()).Decode(&f); err != nil {
		// Without the file's lines around the error: they may hold keys
		// and secrets, and this error goes to the start-up log.
		e.bad("TENANTS_FILE", "%s: %s", path, yaml.FormatError(err, false, false))
		return
	}
	if len(f.Tenants) == 0 {
		e.bad("TENANTS_FILE", "%s lists no tenants (tenants: [{name: …, api_keys: […]}])", path)
	}
	keys := map[string]string{}
	for _, k := range c.HTTP.APIKeys {
		keys[k] = otp.DefaultTenant
	}
	for i, t := range f.Tenants {
		c.Tenants = append(c.Tenants, e.tenant(c, i, t, keys))
	}
	e.tenantSecrets(c)
}

// tenantSecrets refuses a webhook secret that two receivers share: one
// tenant could then sign events the other's receiver trusts. In
// production, a tenant without its own budget is one whose traffic can
// spend every other tenant's shared budgets: said, not refused.
func (e *env) tenantSecrets(c *Config) {
	seen := map[string]string{}
	if c.Webhooks.Secret != "" {
		seen[c.Webhooks.Secret] = otp.DefaultTenant
	}
	for _, t := range c.Tenants {
		if c.App.Production() && t.BudgetPerMinute == 0 {
			e.warn(fmt.Sprintf("TENANTS_FILE: tenant %q has no sms_budget_per_minute: its sends can use up every tenant's SMS_BUDGET_PER_MINUTE", t.Name))
		}
		if t.WebhookSecret == "" {
			continue
		}
		if owner, dup := seen[t.WebhookSecret]; dup {
			e.bad(fmt.Sprintf("TENANTS_FILE: tenant %q", t.Name), "webhook_secret is also %s's: each receiver needs its own", owner)
		}
		seen[t.WebhookSecret] = t.Name
	}
}

// tenant checks one entry; keys are the API keys seen so far, by tenant.
func (e *env) tenant(c *Config, i int, in tenantEntry, keys map[string]string) Tenant {
	name := fmt.Sprintf("TENANTS_FILE: tenant %q", in.Name)
	bad := func(format string, a ...any) { e.bad(name, format, a...) }
	switch {
	case in.Name == otp.DefaultTenant:
		bad("the name default is the environment's tenant (API_KEYS); choose another")
	case !otp.ValidTenantName(in.Name):
		bad("(entry %d) name must be 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", i+1)
	}
	for _, prev := range c.Tenants {
		if prev.Name == in.Name {
			bad("is listed twice")
		}
	}
	t := Tenant{Name: in.Name, Brand: in.Brand, Brands: in.Brands, WebhookURL: in.WebhookURL,
		WebhookSecret: in.WebhookSecret, BudgetPerMinute: in.BudgetPerMinute,
		CallBudgetPerMinute: in.CallBudgetPerMinute, FraudAdmin: in.FraudAdmin}
	if len(in.APIKeys) == 0 {
		bad("needs api_keys: at least one")
	}
	for _, k := range in.APIKeys {
		k = strings.TrimSpace(k)
		if len(k) < minTenantKey {
			// Even in development: a tenant's key is never the one
			// development key, and an empty one would match a blank token.
			bad("every api_key must be at least %d characters", minTenantKey)
			continue
		}
		if owner, dup := keys[k]; dup {
			// The key itself is never printed: it is a secret.
			bad("an API key is also %s's: a key belongs to one tenant", owner)
			continue
		}
		keys[k] = in.Name
		t.APIKeys = append(t.APIKeys, k)
	}
	e.tenantMessages(c, &t, in, bad)
	e.tenantChannels(c, &t, in, bad)
	if t.WebhookURL != "" || t.WebhookSecret != "" {
		if !httpURL(t.WebhookURL) {
			bad("webhook_url %q is not an http(s) URL", logmask.URL(t.WebhookURL))
		} else if c.App.Production() && cleartext(t.WebhookURL) {
			bad("webhook_url %q: production needs https:// unless the host is loopback", logmask.URL(t.WebhookURL))
		}
		if err := validWebhookSecret(t.WebhookSecret); err != nil {
			bad("webhook_secret: %v", err)
		}
	}
	var err error
	if t.Sends, err = ParseRates(in.SendLimits); err != nil {
		bad("send_limits: %v", err)
	}
	if t.BudgetPerMinute < 0 || t.BudgetPerMinute > maxCount || t.CallBudgetPerMinute < 0 || t.CallBudgetPerMinute > maxCount {
		bad("sms_budget_per_minute and call_budget_per_minute are 0 (off) or more")
	}
	return t
}

// tenantMessages checks a tenant's brands and builds its texts.
func (e *env) tenantMessages(c *Config, t *Tenant, in tenantEntry, bad func(string, ...any)) {
	longest, brands := 0, t.Brands
	if t.Brand != "" { // brand is optional; an empty entry in brands is not
		brands = append([]string{t.Brand}, brands...)
	}
	for _, b := range brands {
		if !validBrand(b) {
			bad("brand %q: 1 to %d letters, digits, spaces or .-&'! (a name, not a link)", b, maxBrand)
		}
		longest = max(longest, utf8.RuneCountInString(b))
	}
	if in.Templates == "" || c.Messages.Catalog == nil {
		return
	}
	ts, err := messages.LoadTemplates(in.Templates)
	if err != nil {
		bad("templates: %v", err)
		return
	}
	cat, err := messages.New(messages.Options{WebOTPDomain: c.Messages.WebOTPDomain, Overrides: ts})
	if err != nil {
		bad("templates: %v", err)
		return
	}
	longest = max(longest, utf8.RuneCountInString(c.Messages.Brand))
	if err := cat.Check(messages.Budget{CodeLength: c.Codes.Length, BrandLength: longest}); err != nil {
		e.warn(fmt.Sprintf("TENANTS_FILE: tenant %q: %v", t.Name, err))
	}
	t.Catalog = cat
}

// tenantChannels checks a tenant's channels against the deployment's: a
// tenant can narrow CHANNELS, never widen it (the gateway's senders are
// the deployment's).
func (e *env) tenantChannels(c *Config, t *Tenant, in tenantEntry, bad func(string, ...any)) {
	enabled := c.Channels.Enabled
	if len(in.Channels) > 0 {
		t.Channels = map[string]bool{}
		for _, ch := range in.Channels {
			ch = strings.ToLower(strings.TrimSpace(ch))
			if !c.Channels.Enabled[ch] {
				bad("channel %q is not one CHANNELS enables", ch)
			}
			t.Channels[ch] = true
		}
		enabled = t.Channels
	}
	for _, ch := range in.Workflow {
		ch = strings.ToLower(strings.TrimSpace(ch))
		if !enabled[ch] {
			bad("workflow step %q is not one of its channels", ch)
		}
		t.Workflow = append(t.Workflow, ch)
	}
	if len(t.Workflow) > otp.MaxWorkflowSteps {
		bad("workflow has %d steps; a workflow has 1 to %d", len(t.Workflow), otp.MaxWorkflowSteps)
	}
	if t.Workflow == nil && t.Channels != nil && slices.ContainsFunc(c.Channels.Workflow, func(ch string) bool { return !t.Channels[ch] }) {
		bad("OTP_WORKFLOW uses a channel this tenant does not have: give it a workflow of its own")
	}
}

// allAPIKeys are every key the api accepts: API_KEYS, and the tenants'.
func (c Config) allAPIKeys() []string {
	keys := slices.Clone(c.HTTP.APIKeys)
	for _, t := range c.Tenants {
		keys = append(keys, t.APIKeys...)
	}
	return keys
}

func tenantAttrs(ts []Tenant) []slog.Attr {
	if len(ts) == 0 {
		return nil
	}
	var out []any
	for _, t := range ts {
		// Names, counts and masked URLs only: the file's keys and secrets
		// never reach a log.
		out = append(out, slog.Group(t.Name, slog.Int("api_keys", len(t.APIKeys)),
			slog.String("webhook_url", logmask.URL(t.WebhookURL)), slog.String("webhook_secret", mask(t.WebhookSecret))))
	}
	return []slog.Attr{slog.Group("tenants", out...)}
}
