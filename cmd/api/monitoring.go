package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynqmon"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/tasks"
)

// monitoringPath is where the asynqmon dashboard is mounted.
const monitoringPath = "/monitoring"

// redisURLConnOpt lets asynqmon open its own pools from REDIS_URL with the
// same parsing (and timeouts) as the rest of the process.
type redisURLConnOpt struct{ url string }

// MakeRedisClient implements asynq.RedisConnOpt.
func (o redisURLConnOpt) MakeRedisClient() any {
	c, err := config.NewRedis(o.url)
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
	if taskType != tasks.TypeSendSMS {
		return "(hidden)"
	}
	p, err := tasks.ParseSendPayload(payload)
	if err != nil {
		return "(unreadable)"
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// requireBasicAuth guards the dashboard for browsers: any user name, and
// one of API_KEYS as the password, compared like the bearer keys.
func requireBasicAuth(keys []string) gin.HandlerFunc {
	digests := make([][32]byte, len(keys))
	for i, k := range keys {
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
			p := problem(http.StatusUnauthorized, "unauthorized", "log in with any user name and an API key as the password")
			body, _ := json.Marshal(p)
			c.Data(p.Status, "application/problem+json", body)
			c.Abort()
			return
		}
		c.Next()
	}
}
