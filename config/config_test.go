package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const secret = "0123456789abcdef0123456789abcdef"

func TestDefaultsInDevelopment(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppEnv != "development" || c.OTPTTL != 10*time.Minute || c.CodeLength != 6 || c.MaxChecks != 5 ||
		c.MaxSends != 5 || c.ResendCooldown != 30*time.Second || c.HTTPAddr != ":8080" ||
		c.RedisURL != "redis://localhost:6379/0" || c.TwilioAPIURL != "https://api.twilio.com" ||
		string(c.OTPSecret) != config.DevSecret || c.APIKeys[0] != config.DevAPIKey || len(c.Warnings) != 2 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestProductionNamesEveryMissingVar(t *testing.T) {
	_, err := config.Load(env(map[string]string{"APP_ENV": "production"}))
	if err == nil {
		t.Fatal("want error")
	}
	for _, name := range []string{"OTP_SECRET", "API_KEYS", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestValidProduction(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"APP_ENV": "production", "OTP_SECRET": secret, "API_KEYS": "key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb",
		"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_MESSAGING_SERVICE_SID": "MG1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIKeys) != 2 || c.APIKeys[1] != "key-bbbbbbbbbbbbbbbb" {
		t.Fatalf("keys %q", c.APIKeys)
	}
}

func TestInvalidValuesReportedTogether(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"OTP_TTL": "ten", "OTP_CODE_LENGTH": "3", "OTP_MAX_CHECKS": "x"},
			[]string{"OTP_TTL", "OTP_CODE_LENGTH", "OTP_MAX_CHECKS"}},
		{map[string]string{"OTP_SECRET": "short", "REDIS_URL": "http://x", "APP_ENV": "staging"},
			[]string{"OTP_SECRET", "REDIS_URL", "APP_ENV"}},
		{map[string]string{"TWILIO_API_URL": "ftp://x", "PUBLIC_URL": "nope", "DEFAULT_REGION": "XX"},
			[]string{"TWILIO_API_URL", "PUBLIC_URL", "DEFAULT_REGION"}},
		{map[string]string{"OTP_MESSAGE": "no placeholder", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml"},
			[]string{"OTP_MESSAGE", "LOG_LEVEL", "LOG_FORMAT"}},
		{map[string]string{"TWILIO_TIMEOUT": "30s", "WORKER_SHUTDOWN_TIMEOUT": "20s"},
			[]string{"TWILIO_TIMEOUT"}},
		// Twilio credentials set: dev defaults are no longer allowed.
		{map[string]string{"TWILIO_ACCOUNT_SID": "AC1"},
			[]string{"TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "OTP_SECRET", "API_KEYS"}},
	} {
		_, err := config.Load(env(tc.vars))
		if err == nil {
			t.Errorf("%v: want error", tc.vars)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error does not name %s: %v", tc.vars, w, err)
			}
		}
	}
}

// The development key must be out of reach of anything that looks like a
// deployment, whatever else is configured.
func TestDevDefaultsOnlyForPureDevelopment(t *testing.T) {
	twilio := map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_PHONE_NUMBER": "+15005550006"}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"secret set, keys forgotten", map[string]string{"OTP_SECRET": secret}, "API_KEYS"},
		{"dev key named with Twilio", merge(twilio, map[string]string{"OTP_SECRET": secret, "API_KEYS": config.DevAPIKey + ",k0123456789abcdef"}), "development key"},
		{"dev secret named with Twilio", merge(twilio, map[string]string{"OTP_SECRET": config.DevSecret, "API_KEYS": "k0123456789abcdef"}), "development secret"},
		{"short key with Twilio", merge(twilio, map[string]string{"OTP_SECRET": secret, "API_KEYS": "short"}), "16 characters"},
		{"dev key in production", map[string]string{"APP_ENV": "production", "API_KEYS": config.DevAPIKey}, "development key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(env(tc.vars))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"OTP_SECRET": secret, "API_KEYS": "apikey-123456789012", "TWILIO_ACCOUNT_SID": "AC1",
		"TWILIO_AUTH_TOKEN": "supersecrettoken", "TWILIO_PHONE_NUMBER": "+15005550006",
		"REDIS_URL": "redis://:redispass@localhost:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range []string{secret, "apikey-123456789012", "supersecrettoken", "redispass"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log leaks %q: %s", s, buf.String())
		}
	}
}

func TestDotEnvRealEnvWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(path, []byte("OTP_TTL=5m\nHTTP_ADDR=:9999\n"), 0o600)
	getenv, err := config.WithDotEnv(env(map[string]string{"HTTP_ADDR": ":7777"}), path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(getenv)
	if err != nil || c.OTPTTL != 5*time.Minute || c.HTTPAddr != ":7777" {
		t.Fatalf("%v %v %v", c.OTPTTL, c.HTTPAddr, err)
	}
	if _, err := config.WithDotEnv(env(nil), filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Fatal("a missing .env must be fine")
	}
}
