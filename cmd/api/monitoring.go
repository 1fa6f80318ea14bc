package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynqmon"

	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/tasks"
)

// monitoringPath is where the asynqmon dashboard is mounted.
const monitoringPath = "/monitoring"

// redisURLConnOpt lets asynqmon open its own pools from REDIS_URL with the
// same parsing (and timeouts) as the rest of the process.
type redisURLConnOpt struct{ url string }

// MakeRedisClient implements asynq.RedisConnOpt.
func (o redisURLConnOpt) MakeRedisClient() any {
	c, err := redisconn.New(o.url)
	if err != nil {
		return nil // asynqmon panics on a nil client; config.Load validated the URL
	}
	return c
}

// newMonitoring builds the dashboard. Close it on shutdown: it holds two
// Redis pools of its own.
func newMonitoring(redisURL string, readOnly bool) *asynqmon.HTTPHandler {
	return asynqmon.New(asynqmon.Options{
		RootPath:         monitoringPath,
		RedisConnOpt:     redisURLConnOpt{url: redisURL},
		ReadOnly:         readOnly,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(formatPayload),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(string, []byte) string { return "" }),
	})
}

// formatPayload shows what a task is about and nothing else: our payloads
// carry no code, and an unknown payload is not shown at all.
func formatPayload(taskType string, payload []byte) string {
	if !tasks.IsDelivery(taskType) {
		return "(hidden)"
	}
	p, err := tasks.ParseDeliveryPayload(payload)
	if err != nil {
		return "(unreadable)"
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// dashboard is the asynqmon handler with what guards it.
type dashboard struct {
	handler http.Handler
	// passwords are MONITORING_PASSWORD alone when it is set, else API_KEYS.
	passwords []string
	// publicURL (PUBLIC_URL, may be "") names the dashboard's own origin
	// when a proxy rewrites the Host header.
	publicURL string
}

// dashboardPasswords: a dedicated password, when set, is the only one, so
// that nobody types a key that can send SMS into a browser.
func dashboardPasswords(monitoringPassword string, apiKeys []string) []string {
	if monitoringPassword != "" {
		return []string{monitoringPassword}
	}
	return apiKeys
}

// protectDashboard keeps other sites from driving the dashboard. Browsers
// resend Basic credentials with any site's request, so a cross-site form
// POST could pause a queue or delete tasks (with MONITORING_READ_ONLY=false).
// Every request that may change something must come from the dashboard's
// own page: Origin present and its own, and Sec-Fetch-Site not cross-site.
// The page may not be framed either (clickjacking).
func protectDashboard(publicURL string) gin.HandlerFunc {
	var publicHost string
	if u, err := url.Parse(publicURL); err == nil {
		publicHost = u.Host
	}
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", "frame-ancestors 'none'")
		c.Header("X-Frame-Options", "DENY")
		r := c.Request
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			c.Next()
			return
		}
		origin, err := url.Parse(r.Header.Get("Origin"))
		own := err == nil && origin.Host != "" && (origin.Host == r.Host || origin.Host == publicHost)
		if !own || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeProblem(c, problem(http.StatusForbidden, "forbidden", "changes to the dashboard must come from its own page (Origin)"))
			return
		}
		c.Next()
	}
}

// requireBasicAuth guards the dashboard for browsers: any user name, and
// one of the passwords, compared like the bearer keys.
func requireBasicAuth(passwords []string) gin.HandlerFunc {
	digests := make([][32]byte, len(passwords))
	for i, k := range passwords {
		digests[i] = sha256.Sum256([]byte(k))
	}
	return func(c *gin.Context) {
		_, pass, ok := c.Request.BasicAuth()
		got := sha256.Sum256([]byte(pass))
		match := 0
		for i := range digests {
			match |= subtle.ConstantTimeCompare(got[:], digests[i][:])
		}
		if !ok || match != 1 {
			c.Header("WWW-Authenticate", `Basic realm="otpd monitoring", charset="UTF-8"`)
			p := problem(http.StatusUnauthorized, "unauthorized", "log in with any user name and the dashboard password (MONITORING_PASSWORD, or an API key when it is unset)")
			body, _ := json.Marshal(p)
			c.Data(p.Status, "application/problem+json", body)
			c.Abort()
			return
		}
		c.Next()
	}
}
