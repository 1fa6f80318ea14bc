package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

// newHandler lists the whole API.
func newHandler(log *slog.Logger, svc *otp.Service, apiKeys []string, codeLength int) http.Handler {
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
