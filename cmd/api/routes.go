package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/metrics"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// newHandler lists the whole API.
// webhookConfig is what the Twilio status callback needs to check signatures.
type webhookConfig struct{ PublicURL, AuthToken string }

// handlerOption adds an optional part to the router.
type handlerOption func(*handlerParts)

type handlerParts struct {
	httpMetrics *metrics.HTTP
	monitoring  http.Handler
}

// withHTTPMetrics measures every request.
func withHTTPMetrics(m *metrics.HTTP) handlerOption {
	return func(p *handlerParts) { p.httpMetrics = m }
}

// withMonitoring mounts the asynqmon dashboard behind Basic auth.
func withMonitoring(h http.Handler) handlerOption {
	return func(p *handlerParts) { p.monitoring = h }
}

func newHandler(log *slog.Logger, svc *otp.Service, apiKeys []string, codeLength int, hooks webhookConfig, metricsHandler http.Handler, opts ...handlerOption) http.Handler {
	var parts handlerParts
	for _, o := range opts {
		o(&parts)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // a redirect is no answer for an API client
	r.ContextWithFallback = true
	r.Use(requestID(), accessLog(log), recoverProblem(log))
	if parts.httpMetrics != nil {
		r.Use(parts.httpMetrics.Middleware())
	}
	r.NoRoute(func(c *gin.Context) { writeProblem(c, problem(http.StatusNotFound, "not_found", "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})

	r.GET("/healthz", handleHealthz())
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", api.Spec) })
	r.GET("/readyz", handleReadyz(svc))
	if metricsHandler != nil {
		r.GET("/metrics", gin.WrapH(metricsHandler))
	}
	if parts.monitoring != nil {
		// Read-only by default; its raw Redis INFO page is inside too.
		mon := r.Group(monitoringPath, requireBasicAuth(apiKeys))
		mon.Any("/*page", gin.WrapH(parts.monitoring))
		r.GET(monitoringPath, requireBasicAuth(apiKeys), gin.WrapH(parts.monitoring))
	}

	// Twilio signs its callbacks; no bearer key.
	r.POST(tasks.StatusCallbackPath, handleTwilioStatus(svc, hooks.PublicURL, hooks.AuthToken))

	authed := r.Group("/", requireAPIKey(apiKeys), bounded())
	authed.POST("/v1/verifications", handleStart(svc))
	authed.POST("/v1/verifications/check", handleCheck(svc))
	authed.GET("/v1/verifications/:id", handleGet(svc))
	authed.POST("/v1/verifications/:id/cancel", handleCancel(svc))

	// The tutorial's routes, kept for old clients.
	authed.POST("/send-code", handleSendCode(svc))
	authed.POST("/verify-code", handleVerifyCode(svc, codeLength))
	return r
}
