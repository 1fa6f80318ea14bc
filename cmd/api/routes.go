package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/otp"
)

// webhookConfig is what the gateways' status callbacks need to check
// signatures: Twilio's auth token and the URL it called, and Telegram's
// token.
type webhookConfig struct{ PublicURL, AuthToken, TelegramToken string }

// verifications is what the api asks of the domain (otp.Service): HTTP
// tests that test HTTP can serve it from a stub.
type verifications interface {
	Start(ctx context.Context, r otp.StartRequest) (v otp.Verification, created bool, err error)
	Check(ctx context.Context, r otp.CheckRequest) (v otp.Verification, valid bool, err error)
	Get(ctx context.Context, id string) (otp.Verification, error)
	// Cancel's changed is false for a verification canceled before.
	Cancel(ctx context.Context, id string) (v otp.Verification, changed bool, err error)
	DeliveryReport(ctx context.Context, r otp.DeliveryReport) error
	Ready(ctx context.Context) error
}

// deps are what the public routes work through.
type deps struct {
	log *slog.Logger
	// svc is the default tenant's service; tenants, when set, every
	// tenant's by name (the default's included), and tenantKeys the keys
	// of the tenants of TENANTS_FILE.
	svc        verifications
	tenants    map[string]verifications
	tenantKeys []apiKey
	fraud      fraudAdmin        // nil: no fraud routes (HTTP tests of the others)
	idem       idempotency.Store // Idempotency-Key answers
	writes     writeLimiter      // nil: no write limit (HTTP tests of the rest)
	apiKeys    []string          // the default tenant's (API_KEYS)
	codeLength int
	hooks      webhookConfig
}

// keys are every accepted key: the default tenant's, which may manage the
// fraud guard as they always could, and the other tenants'.
func (d deps) keys() []apiKey {
	var out []apiKey
	for _, k := range d.apiKeys {
		out = append(out, apiKey{key: k, tenant: otp.DefaultTenant, fraudAdmin: true})
	}
	return append(out, d.tenantKeys...)
}

// services routes each request to its tenant's service.
func (d deps) services() tenants {
	byName := map[string]verifications{otp.DefaultTenant: d.svc}
	for name, svc := range d.tenants {
		byName[name] = svc
	}
	return tenants{byName: byName}
}

// handlerOption adds an optional part to the router.
type handlerOption func(*handlerParts)

type handlerParts struct {
	httpMetrics *metrics.HTTP
	dashboard   *dashboard
}

// withHTTPMetrics measures every request.
func withHTTPMetrics(m *metrics.HTTP) handlerOption {
	return func(p *handlerParts) { p.httpMetrics = m }
}

// withMonitoring mounts the asynqmon dashboard behind Basic auth.
func withMonitoring(d dashboard) handlerOption {
	return func(p *handlerParts) { p.dashboard = &d }
}

// newEngine is the router every listener of the api starts from: request
// ids, one log line and metrics per request, and an unknown method refused
// before any other work.
func newEngine(log *slog.Logger, parts handlerParts) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false // a redirect is no answer for an API client
	r.ContextWithFallback = true
	r.Use(requestID(), accessLog(log), recoverProblem(log))
	if parts.httpMetrics != nil {
		r.Use(parts.httpMetrics.Middleware())
	}
	r.Use(knownMethod())
	r.NoRoute(func(c *gin.Context) { writeProblem(c, problem(http.StatusNotFound, "not_found", "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})
	r.GET("/healthz", handleHealthz())
	return r
}

// mountOps puts /metrics and the dashboard on a router: the public one, or
// the admin listener's when API_ADMIN_ADDR is set.
func mountOps(r *gin.Engine, metricsHandler http.Handler, d *dashboard) {
	if metricsHandler != nil {
		r.GET("/metrics", gin.WrapH(metricsHandler))
	}
	if d != nil {
		// Read-only by default; its raw Redis INFO page is inside too.
		guard := []gin.HandlerFunc{protectDashboard(d.publicURL), requireBasicAuth(d.passwords)}
		r.Group(monitoringPath, guard...).Any("/*page", gin.WrapH(d.handler))
		r.Any(monitoringPath, append(guard, gin.WrapH(d.handler))...)
	}
}

// newHandler lists the whole public API. metricsHandler (nil: none) and
// the dashboard option are the operations routes that API_ADMIN_ADDR moves
// to newAdminHandler.
func newHandler(d deps, metricsHandler http.Handler, opts ...handlerOption) http.Handler {
	var parts handlerParts
	for _, o := range opts {
		o(&parts)
	}
	r := newEngine(d.log, parts)
	svc := d.services()
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", api.Spec) })
	r.GET("/readyz", handleReadyz(d.svc))
	mountOps(r, metricsHandler, parts.dashboard)

	// Twilio signs its callbacks; no bearer key.
	r.POST(api.StatusCallbackPath, handleTwilioStatus(svc, d.hooks.PublicURL, d.hooks.AuthToken))
	r.POST(api.TelegramCallbackPath, handleTelegramStatus(svc, d.hooks.TelegramToken, time.Now))

	// Every route below works on the tenant of the request's key. Every
	// write is under a per-key limit: a start and a send-code under the
	// send limits, which the store takes with the send, a check under the
	// write limit, which the store takes with its failed checks' budget and
	// the check itself (one script; three steps on a Cluster), the others
	// under the write limit, taken first.
	authed := r.Group("/", requireAPIKey(d.keys()), bounded())
	write := limitWrites(d.writes, writeError)
	authed.POST("/v1/verifications", idempotent(d.idem, d.log, true), handleStart(svc))
	authed.POST("/v1/verifications/check", handleCheck(svc))
	authed.GET("/v1/verifications/:id", handleGet(svc))
	authed.POST("/v1/verifications/:id/cancel", write, idempotent(d.idem, d.log, false), handleCancel(svc))

	fraud := authed.Group("/v1/fraud", requireFraudAdmin())
	fraud.GET("/blocks", handleFraudBlocks(d.fraud))
	fraud.DELETE("/blocks/:name", write, handleLiftFraudBlock(d.fraud))
	fraud.GET("/safe-list", handleSafeList(d.fraud))
	fraud.PUT("/safe-list/:entry", write, handleAddSafe(d.fraud))
	fraud.DELETE("/safe-list/:entry", write, handleRemoveSafe(d.fraud))

	// The tutorial's routes, kept for old clients.
	authed.POST("/send-code", handleSendCode(svc))
	authed.POST("/verify-code", handleVerifyCode(svc, d.codeLength))
	return r
}

// newAdminHandler is the API_ADMIN_ADDR listener: /metrics and the
// dashboard, away from the public port (and pprof, when ADMIN_ADDR is the
// same address).
func newAdminHandler(log *slog.Logger, metricsHandler http.Handler, pprof http.Handler, opts ...handlerOption) http.Handler {
	var parts handlerParts
	for _, o := range opts {
		o(&parts)
	}
	r := newEngine(log, parts)
	mountOps(r, metricsHandler, parts.dashboard)
	if pprof != nil {
		r.Any("/debug/pprof/*profile", gin.WrapH(pprof))
	}
	return r
}
