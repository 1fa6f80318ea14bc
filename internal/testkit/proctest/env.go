package proctest

import (
	"os"
	"sort"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// ProductionEnv is what the api and the worker need to start with
// APP_ENV=production against redisURL and fake, the api listening on
// httpAddr: the settings production refuses to start without (a country
// list, a total budget, a brand, the api's admin listener), JSON logs and
// free metrics ports (port 0: a test that scrapes one names its own).
// Callers add and override their own. One place, so that a new production
// requirement changes every suite that starts the binaries.
func ProductionEnv(redisURL, httpAddr string, fake *twiliofake.Server) map[string]string {
	return map[string]string{
		"APP_ENV": "production", "REDIS_URL": redisURL, "HTTP_ADDR": httpAddr,
		"OTP_SECRET":         "proctest-secret-proctest-secret-proctest",
		"TWILIO_ACCOUNT_SID": fake.AccountSID, "TWILIO_AUTH_TOKEN": fake.AuthToken,
		"TWILIO_PHONE_NUMBER": "+15005550006", "TWILIO_API_URL": fake.URL,
		"LOG_FORMAT": "json", "WORKER_METRICS_ADDR": "127.0.0.1:0", "API_ADMIN_ADDR": "127.0.0.1:0",
		"ALLOWED_COUNTRIES": "*", "SMS_BUDGET_PER_MINUTE": "100000", "OTP_BRAND": "Acme",
		"PATH": os.Getenv("PATH"),
	}
}

// Environ is env as a process environment, KEY=VALUE sorted by key.
func Environ(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}
