package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/config"
)

const tenantSecret = "whsec_bWVyY2hhbnQtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="

// tenantsFile writes body to a TENANTS_FILE of the test's own.
func tenantsFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTenantsFile(t *testing.T) {
	path := tenantsFile(t, `tenants:
  - name: merchant
    api_keys: [merchant-key-0123456789abcdef, merchant-key-2-0123456789abcdef]
    brand: Merchant Co
    brands: [Merchant Pay]
    channels: [sms]
    workflow: [sms]
    webhook_url: https://hooks.example/otp?token=hook-query-secret
    webhook_secret: `+tenantSecret+`
    send_limits: 100/1m,1000/1h
    sms_budget_per_minute: 50
    call_budget_per_minute: 0
    fraud_admin: true
  - name: console
    api_keys: [console-key-0123456789abcdef]
`)
	c, err := config.Load(env(map[string]string{"TENANTS_FILE": path, "API_KEYS": "env-key-0123456789abcdef",
		"CHANNELS": "sms,call", "VOICE_ALLOWED_COUNTRIES": "US"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 2 {
		t.Fatalf("tenants: %+v", c.Tenants)
	}
	m := c.Tenants[0]
	if m.Name != "merchant" || len(m.APIKeys) != 2 || m.Brand != "Merchant Co" || !m.Channels["sms"] || m.Channels["call"] ||
		len(m.Sends) != 2 || m.BudgetPerMinute != 50 || !m.FraudAdmin || m.WebhookURL == "" {
		t.Fatalf("merchant: %+v", m)
	}
	if con := c.Tenants[1]; con.Channels != nil || con.Brand != "" || con.FraudAdmin || con.WebhookURL != "" {
		t.Fatalf("console takes the environment's choices: %+v", con)
	}
	// The keys stay the default tenant's; no development key is added.
	if len(c.HTTP.APIKeys) != 1 {
		t.Fatalf("API_KEYS: %v", c.HTTP.APIKeys)
	}

	// Logged whole, the configuration shows no key, secret or URL query.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range []string{"merchant-key", "console-key", "hook-query-secret", tenantSecret, "env-key"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("the logged configuration shows %q: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "merchant") {
		t.Errorf("the logged configuration does not name the tenants: %s", buf.String())
	}
}

// Every problem of the file is reported at once, each named by tenant,
// and no key is printed, not even the one two tenants share.
func TestTenantsFileProblemsTogether(t *testing.T) {
	path := tenantsFile(t, `tenants:
  - name: Merchant!
    api_keys: [shared-key-0123456789abcdef]
  - name: default
    api_keys: [other-key-0123456789abcdef]
  - name: shop
    api_keys: [shared-key-0123456789abcdef, env-key-0123456789abcdef]
    channels: [whatsapp]
    workflow: [sms, sms, sms, sms, sms]
    webhook_url: ftp://x
    send_limits: lots
    brand: "visit http://x.example"
  - name: shop
    api_keys: []
  - name: nokey
    sms_budget_per_minute: -1
`)
	_, err := config.Load(env(map[string]string{"TENANTS_FILE": path, "API_KEYS": "env-key-0123456789abcdef"}))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		`tenant "Merchant!": (entry 1) name must be`,
		`tenant "default": the name default is the environment's`,
		`tenant "shop": an API key is also Merchant!'s`,
		`tenant "shop": an API key is also default's`,
		`tenant "shop": channel "whatsapp" is not one CHANNELS enables`,
		`tenant "shop": workflow step "sms" is not one of its channels`,
		`tenant "shop": workflow has 5 steps`,
		`tenant "shop": webhook_url "ftp://x" is not an http(s) URL`,
		`tenant "shop": webhook_secret: required`,
		`tenant "shop": send_limits:`,
		`tenant "shop": brand "visit http://x.example"`,
		`tenant "shop": is listed twice`,
		`tenant "shop": needs api_keys`,
		`tenant "nokey": needs api_keys`,
		`tenant "nokey": sms_budget_per_minute and call_budget_per_minute are 0 (off) or more`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "shared-key") || strings.Contains(msg, "env-key") {
		t.Errorf("the error shows an API key:\n%s", msg)
	}
	if t.Failed() {
		t.Log(msg)
	}
}

func TestTenantsFileUnreadable(t *testing.T) {
	for name, body := range map[string]string{
		"unknown field": "tenants:\n  - name: a\n    api_keys: [k]\n    colour: blue\n",
		"not yaml":      "tenants: [",
		"empty":         "tenants: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"TENANTS_FILE": tenantsFile(t, body)}))
			if err == nil || !strings.Contains(err.Error(), "TENANTS_FILE") {
				t.Fatalf("%v", err)
			}
		})
	}
	_, err := config.Load(env(map[string]string{"TENANTS_FILE": "/no/such/file.yaml"}))
	if err == nil || !strings.Contains(err.Error(), "TENANTS_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// In production a tenant's key follows API_KEYS' rules.
func TestTenantKeysInProduction(t *testing.T) {
	path := tenantsFile(t, "tenants:\n  - name: a\n    api_keys: [short, a-valid-key-0123456789abcdef]\n    webhook_url: http://hooks.example/x\n    webhook_secret: "+tenantSecret+"\n")
	_, err := config.Load(env(map[string]string{"APP_ENV": "production", "TENANTS_FILE": path}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"at least 16 characters", `webhook_url "http://hooks.example/x": production needs https://`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// Keys in the file alone are enough: API_KEYS is not required.
	if strings.Contains(err.Error(), "missing API_KEYS") || strings.Contains(err.Error(), "API_KEYS,") {
		t.Errorf("API_KEYS required although the file has keys: %v", err)
	}
}

// What the security review found: a YAML error shows no line of the file
// (keys, secrets), a blank or short key is refused in any APP_ENV, and two
// receivers never share a secret.
func TestTenantsFileReviewFindings(t *testing.T) {
	path := tenantsFile(t, "tenants:\n  - name: a\n    api_keys: [sk-live-0123456789abcdef]\n    webhook_secet: "+tenantSecret+"\n")
	_, err := config.Load(env(map[string]string{"TENANTS_FILE": path}))
	if err == nil || strings.Contains(err.Error(), tenantSecret) || strings.Contains(err.Error(), "sk-live") {
		t.Fatalf("an unknown field's error: %v", err)
	}
	path = tenantsFile(t, `tenants:
  - name: a
    api_keys: ["", "short"]
  - name: b
    api_keys: [b-key-0123456789abcdef]
    webhook_url: https://b.example/hook
    webhook_secret: `+tenantSecret+`
  - name: c
    api_keys: [c-key-0123456789abcdef]
    webhook_url: https://c.example/hook
    webhook_secret: `+tenantSecret+`
`)
	_, err = config.Load(env(map[string]string{"TENANTS_FILE": path}))
	for _, want := range []string{`tenant "a": every api_key must be at least 16 characters`, `tenant "c": webhook_secret is also b's`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// A Telegram token sends real messages: the development key and secret
// are refused with it, as with Twilio's credentials.
func TestTelegramTokenIsReal(t *testing.T) {
	_, err := config.Load(env(map[string]string{"CHANNELS": "telegram,sms", "TELEGRAM_GATEWAY_TOKEN": "tok"}))
	if err == nil || !strings.Contains(err.Error(), "API_KEYS") || !strings.Contains(err.Error(), "OTP_SECRET") {
		t.Fatalf("a Telegram token without keys or secret: %v", err)
	}
}
