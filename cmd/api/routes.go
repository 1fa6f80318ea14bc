package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// newHandler lists the whole API.
// webhookConfig is what the Twilio status callback needs to check signatures.
type webhookConfig struct{ PublicURL, AuthToken string }

func newHandler(log *slog.Logger, svc *otp.Service, apiKeys []string, codeLength int, hooks webhookConfig, metrics http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // a redirect is no answer for an API client
	r.ContextWithFallback = true
	r.Use(requestID(), accessLog(log), recoverProblem(log))
	r.NoRoute(func(c *gin.Context) { writeProblem(c, problem(http.StatusNotFound, "not_found", "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})

	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", handleReadyz(svc))
	if metrics != nil {
		r.GET("/metrics", gin.WrapH(metrics))
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
