package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/otpd/otpd/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const (
	secret  = "0123456789abcdef0123456789abcdef"
	testSID = "ACfedcba9876543210fedcba9876543210"
	testMG  = "MGfedcba9876543210fedcba9876543210"
)

func TestDefaultsInDevelopment(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Codes{Secret: []byte(config.DevSecret), TTL: 10 * time.Minute, Length: 6, MaxChecks: 5, MaxSends: 5,
		Cooldown: 30 * time.Second, Retention: 24 * time.Hour, DefaultRegion: "US"}
	if diff := cmp.Diff(want, c.Codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	wantHTTP := config.HTTP{Addr: ":8080", APIKeys: []string{config.DevAPIKey}}
	if diff := cmp.Diff(wantHTTP, c.HTTP); diff != "" {
		t.Errorf("http (-want +got):\n%s", diff)
	}
	if c.App.Env != "development" || c.Redis != (config.Redis{URL: "redis://localhost:6379/0", QueueShards: 1, MinReplicasTimeout: 500 * time.Millisecond}) ||
		c.Twilio.APIURL != "https://api.twilio.com" || len(c.Warnings) != 2 {
		t.Errorf("defaults: %+v %+v %v %v", c.App, c.Redis, c.Twilio.APIURL, c.Warnings)
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
		"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": "tok", "TWILIO_MESSAGING_SERVICE_SID": testMG,
		"ALLOWED_COUNTRIES": "US,CA", "SMS_BUDGET_PER_MINUTE": "600", "OTP_BRAND": "Acme",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HTTP.APIKeys) != 2 || c.HTTP.APIKeys[1] != "key-bbbbbbbbbbbbbbbb" {
		t.Fatalf("keys %q", c.HTTP.APIKeys)
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
		{map[string]string{"TWILIO_ACCOUNT_SID": testSID},
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
	twilio := map[string]string{"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_PHONE_NUMBER": "+15005550006"}
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
		"OTP_SECRET": secret, "API_KEYS": "apikey-123456789012", "TWILIO_ACCOUNT_SID": testSID,
		"TWILIO_AUTH_TOKEN": "supersecrettoken", "TWILIO_PHONE_NUMBER": "+15005550006",
		"REDIS_URL": "redis://:redispass@localhost:6379/0", "MONITORING_PASSWORD": "dashboard-password-123",
		"WEBHOOK_URL": "https://backend.example/", "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range []string{secret, "apikey-123456789012", "supersecrettoken", "redispass", "dashboard-password-123", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log leaks %q: %s", s, buf.String())
		}
	}
}

// A token in a URL's query (a receiver's ?token=, a gateway's ?key=) is a
// secret too: the start-up log of either process, and the refusal of a
// URL, show the URL without it.
func TestStartupMasksURLSecrets(t *testing.T) {
	urls := map[string]string{
		"WEBHOOK_URL": "https://x.example/hook?token=s3cret", "WEBHOOK_SECRET": goodWebhookSecret,
		"PUBLIC_URL": "https://otp.example?key=s3cret", "TWILIO_API_URL": "https://gw.example/twilio?sig=s3cret",
		"REDIS_URL": "redis://:s3cret@localhost:6379/0",
	}
	for _, process := range []string{"api", "worker"} {
		t.Run(process, func(t *testing.T) {
			var out bytes.Buffer
			if _, _, err := config.Startup(env(twilioEnv(urls)), &out, process); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), "https://x.example/hook?token=xxxxx") {
				t.Fatalf("start-up log:\n%s", out.String())
			}
		})
	}
	for _, bad := range []map[string]string{
		{"WEBHOOK_URL": "ftp://x.example/hook?token=s3cret", "WEBHOOK_SECRET": goodWebhookSecret},
		{"PUBLIC_URL": "ftp://otp.example?key=s3cret"},
		{"APP_ENV": "production", "WEBHOOK_URL": "http://x.example/hook?token=s3cret", "WEBHOOK_SECRET": goodWebhookSecret},
	} {
		vars := twilioEnv(bad)
		if bad["APP_ENV"] != "" {
			vars = prodEnv(bad)
		}
		_, err := config.Load(env(vars))
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "=xxxxx") {
			t.Errorf("%v: %v", bad, err)
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
	if err != nil || c.Codes.TTL != 5*time.Minute || c.HTTP.Addr != ":7777" {
		t.Fatalf("%v %v %v", c.Codes.TTL, c.HTTP.Addr, err)
	}
	if _, err := config.WithDotEnv(env(nil), filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Fatal("a missing .env must be fine")
	}
}

// prodEnv is a complete production configuration; tests change one thing.
func prodEnv(set map[string]string) map[string]string {
	return merge(map[string]string{
		"APP_ENV": "production", "OTP_SECRET": secret, "API_KEYS": "k0123456789abcdef",
		"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_PHONE_NUMBER": "+15005550006",
		"ALLOWED_COUNTRIES": "US,CA,GB", "SMS_BUDGET_PER_MINUTE": "600", "OTP_BRAND": "Acme",
	}, set)
}

// Production refuses what a security review found: no spending cap, and
// settings below NIST SP 800-63B. Each case names the variable to fix; the
// "" cases are the boundaries that must still start.
func TestProductionRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string // "" starts
	}{
		{"complete", nil, ""},
		{"no country list", map[string]string{"ALLOWED_COUNTRIES": ""}, "ALLOWED_COUNTRIES"},
		{"every country on purpose", map[string]string{"ALLOWED_COUNTRIES": "*"}, ""},
		{"star among countries", map[string]string{"ALLOWED_COUNTRIES": "US,*"}, "ALLOWED_COUNTRIES"},
		{"no budget", map[string]string{"SMS_BUDGET_PER_MINUTE": ""}, "SMS_BUDGET_PER_MINUTE"},
		{"zero budget", map[string]string{"SMS_BUDGET_PER_MINUTE": "0"}, "SMS_BUDGET_PER_MINUTE"},
		{"country budgets without *", map[string]string{"SMS_BUDGET_PER_MINUTE": "", "SMS_COUNTRY_BUDGETS": "US=100"}, "SMS_BUDGET_PER_MINUTE"},
		{"country budgets with *", map[string]string{"SMS_BUDGET_PER_MINUTE": "", "SMS_COUNTRY_BUDGETS": "US=100,*=10"}, ""},
		{"5-digit codes", map[string]string{"OTP_CODE_LENGTH": "5"}, "OTP_CODE_LENGTH"},
		{"6-digit codes", map[string]string{"OTP_CODE_LENGTH": "6"}, ""},
		{"11-minute codes", map[string]string{"OTP_TTL": "11m"}, "OTP_TTL"},
		{"10-minute codes", map[string]string{"OTP_TTL": "10m"}, ""},
		{"failure lock off", map[string]string{"FAILED_CHECK_LIMIT": "off"}, "FAILED_CHECK_LIMIT"},
		{"101 failures a day", map[string]string{"FAILED_CHECK_LIMIT": "101/24h"}, "FAILED_CHECK_LIMIT"},
		{"10 failures an hour", map[string]string{"FAILED_CHECK_LIMIT": "10/1h"}, "FAILED_CHECK_LIMIT"},
		{"100 failures a day", map[string]string{"FAILED_CHECK_LIMIT": "100/1d"}, ""},
		{"200 failures in two days", map[string]string{"FAILED_CHECK_LIMIT": "200/48h"}, "FAILED_CHECK_LIMIT"},
		{"3000 failures in a month", map[string]string{"FAILED_CHECK_LIMIT": "3000/30d"}, "FAILED_CHECK_LIMIT"},
		{"50 failures in 12h", map[string]string{"FAILED_CHECK_LIMIT": "50/12h"}, ""},
		{"51 failures in 12h", map[string]string{"FAILED_CHECK_LIMIT": "51/12h"}, "FAILED_CHECK_LIMIT"},
		{"100 failures in two days", map[string]string{"FAILED_CHECK_LIMIT": "100/48h"}, ""},
		// Counts whose product with 24h would overflow int64.
		{"106752 failures a day", map[string]string{"FAILED_CHECK_LIMIT": "106752/24h"}, "FAILED_CHECK_LIMIT"},
		{"a million an hour", map[string]string{"FAILED_CHECK_LIMIT": "1000000/1h"}, "FAILED_CHECK_LIMIT"},
		{"a billion a day", map[string]string{"FAILED_CHECK_LIMIT": "1000000000/24h"}, "FAILED_CHECK_LIMIT"},
		{"writable dashboard without its password", map[string]string{"MONITORING_READ_ONLY": "false"}, "MONITORING_PASSWORD"},
		{"writable dashboard with its password", map[string]string{"MONITORING_READ_ONLY": "false", "MONITORING_PASSWORD": "a-long-dashboard-password"}, ""},
		{"twilio over http", map[string]string{"TWILIO_API_URL": "http://api.twilio.com"}, "TWILIO_API_URL"},
		{"twilio over http to a private IP", map[string]string{"TWILIO_API_URL": "http://10.0.0.8:8080"}, "TWILIO_API_URL"},
		{"twilio proxy on loopback", map[string]string{"TWILIO_API_URL": "http://127.0.0.2:8080"}, ""},
		{"twilio fake on localhost", map[string]string{"TWILIO_API_URL": "http://localhost:8080"}, ""},
		{"twilio fake on ::1", map[string]string{"TWILIO_API_URL": "http://[::1]:8080"}, ""},
		{"public url over http", map[string]string{"PUBLIC_URL": "http://otp.example.com"}, "PUBLIC_URL"},
		{"public url over https", map[string]string{"PUBLIC_URL": "https://otp.example.com"}, ""},
		{"public url on loopback", map[string]string{"PUBLIC_URL": "http://127.0.0.1:8080"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantLoad(t, prodEnv(tc.set), tc.want)
		})
	}
	// Every problem at once, so an operator fixes them in one pass.
	_, err := config.Load(env(prodEnv(map[string]string{"ALLOWED_COUNTRIES": "", "SMS_BUDGET_PER_MINUTE": "",
		"OTP_CODE_LENGTH": "4", "OTP_TTL": "1h", "FAILED_CHECK_LIMIT": "off", "TWILIO_API_URL": "http://twilio.example"})))
	for _, name := range []string{"ALLOWED_COUNTRIES", "SMS_BUDGET_PER_MINUTE", "OTP_CODE_LENGTH", "OTP_TTL", "FAILED_CHECK_LIMIT", "TWILIO_API_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	// Development keeps its freedom: short codes and an open list run there.
	if _, err := config.Load(env(map[string]string{"OTP_CODE_LENGTH": "4", "OTP_TTL": "1h", "FAILED_CHECK_LIMIT": "off"})); err != nil {
		t.Fatalf("development: %v", err)
	}
}

// A malformed SID stops start-up, in every environment, instead of failing
// each SMS at run time.
func TestTwilioSIDPatterns(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"valid", nil, ""},
		{"valid messaging service", map[string]string{"TWILIO_MESSAGING_SERVICE_SID": testMG}, ""},
		{"upper-case hex", map[string]string{"TWILIO_ACCOUNT_SID": "AC0123456789ABCDEF0123456789ABCDEF"}, ""},
		{"short account", map[string]string{"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID"},
		{"wrong prefix", map[string]string{"TWILIO_ACCOUNT_SID": "MG0123456789abcdef0123456789abcdef"}, "TWILIO_ACCOUNT_SID"},
		{"not hex", map[string]string{"TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdeg"}, "TWILIO_ACCOUNT_SID"},
		{"short messaging service", map[string]string{"TWILIO_MESSAGING_SERVICE_SID": "MG0123"}, "TWILIO_MESSAGING_SERVICE_SID"},
		{"account sid as service", map[string]string{"TWILIO_MESSAGING_SERVICE_SID": testSID}, "TWILIO_MESSAGING_SERVICE_SID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantLoad(t, twilioEnv(tc.set), tc.want)
		})
	}
}

func TestAdminSettings(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"MONITORING_PASSWORD": "short"}, "MONITORING_PASSWORD"},
		{map[string]string{"MONITORING_PASSWORD": "sixteen-chars-ok"}, ""},
		{map[string]string{"API_ADMIN_ADDR": ":8080"}, "API_ADMIN_ADDR"},
		{map[string]string{"API_ADMIN_ADDR": "127.0.0.1:9091"}, ""},
		{map[string]string{"API_ADMIN_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0"}, ""},
	} {
		c, err := config.Load(env(tc.set))
		switch {
		case tc.want == "" && (err != nil || c.HTTP.AdminAddr != tc.set["API_ADMIN_ADDR"] || c.Monitoring.Password != tc.set["MONITORING_PASSWORD"]):
			t.Errorf("%v: %+v %v", tc.set, c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: want an error naming %s, got %v", tc.set, tc.want, err)
		}
	}
}

// Production keeps the unauthenticated metrics off the public network by
// an explicit choice: the api refuses to start without its admin listener,
// and the worker's listener is loopback unless WORKER_METRICS_ADDR is set
// (and says so). Each rule binds only the process it is about.
func TestProductionListeners(t *testing.T) {
	for _, tc := range []struct {
		name        string
		process     string
		set         map[string]string
		want        string // "" starts
		metricsAddr string
		warns       bool // that the worker's listener is loopback
	}{
		{"api without an admin listener", "api", prodEnv(nil), "API_ADMIN_ADDR", "", false},
		{"api with one in the cluster", "api", prodEnv(map[string]string{"API_ADMIN_ADDR": ":9091"}), "", config.DefaultWorkerMetricsAddr, false},
		{"api on loopback", "api", prodEnv(map[string]string{"API_ADMIN_ADDR": "127.0.0.1:9091"}), "", config.DefaultWorkerMetricsAddr, false},
		{"api in development", "api", nil, "", config.DefaultWorkerMetricsAddr, false},
		{"worker needs no api admin listener", "worker", prodEnv(map[string]string{"WORKER_METRICS_ADDR": ":9090"}), "", ":9090", false},
		{"worker on loopback by default", "worker", prodEnv(nil), "", "127.0.0.1:9090", true},
		{"shared rules only", "", prodEnv(nil), "", "127.0.0.1:9090", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.LoadFor(env(tc.set), tc.process)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want an error naming %s, got %v", tc.want, err)
				}
				return
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
			if c.Worker.MetricsAddr != tc.metricsAddr {
				t.Errorf("worker metrics on %q, want %q", c.Worker.MetricsAddr, tc.metricsAddr)
			}
			if warns := strings.Contains(strings.Join(c.Warnings, "\n"), "WORKER_METRICS_ADDR unset"); warns != tc.warns {
				t.Errorf("warnings %q: a loopback warning is %v, want %v", c.Warnings, warns, tc.warns)
			}
		})
	}
}

// wantLoad loads vars and fails unless the outcome is want: "" starts, else
// an error naming want.
func wantLoad(t *testing.T, vars map[string]string, want string) {
	t.Helper()
	_, err := config.Load(env(vars))
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("want an error naming %s, got %v", want, err)
	}
}
