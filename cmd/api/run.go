package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/server"
)

// drainTimeout bounds how long SIGTERM waits for in-flight requests; every
// request is itself bounded by requestTimeout, so this is generous.
const drainTimeout = 15 * time.Second

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 && args[1] == "-healthcheck" {
		return server.Probe(getenv("HTTP_ADDR"), ":8080")
	}
	cfg, log, err := config.Startup(getenv, stdout, "api")
	if err != nil {
		return err
	}
	rdb, err := redisconn.New(cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.NewRedis(reg, rdb)
	o := app.FromConfig(cfg, log)
	o.Metrics = reg
	parts, err := app.Build(rdb, o)
	if err != nil {
		return err
	}
	defer parts.Asynq.Close()
	// The guard's late counts are written until the requests have drained;
	// the events waiting for delivery are kept within bounds until then,
	// whether or not a worker delivers them.
	gctx, stopGuard := context.WithCancel(context.WithoutCancel(ctx))
	waitGuard, waitBacklog := parts.RunGuard(gctx), parts.RunBacklog(gctx)
	defer func() { stopGuard(); waitGuard(); waitBacklog() }()
	mon := newMonitoring(cfg.Redis.URL, cfg.Monitoring.ReadOnly)
	defer mon.Close()

	actx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	public, err := listeners(actx, cfg, log, parts, reg, dashboard{handler: mon, publicURL: cfg.HTTP.PublicURL,
		passwords: dashboardPasswords(cfg.Monitoring.Password, cfg.HTTP.APIKeys)})
	if err != nil {
		return err
	}
	return listenAndDrain(ctx, cfg.HTTP.Addr, server.NewPublicServer(public, log), log)
}

// listeners starts the admin listeners (API_ADMIN_ADDR, ADMIN_ADDR), and
// returns the public one's handler: /metrics and the dashboard are on
// API_ADMIN_ADDR when it is set, else on the public listener.
func listeners(ctx context.Context, cfg config.Config, log *slog.Logger, parts *app.Parts, reg *prometheus.Registry, ops dashboard) (http.Handler, error) {
	d := deps{log: log, svc: parts.Service, fraud: parts.Service, idem: parts.Idempotency, writes: parts.Limits, apiKeys: cfg.HTTP.APIKeys,
		codeLength: parts.Codec.Length(), hooks: webhookConfig{PublicURL: cfg.HTTP.PublicURL, AuthToken: cfg.Twilio.AuthToken, TelegramToken: cfg.Telegram.Token},
		tenants: map[string]verifications{}}
	for name, svc := range parts.Tenants {
		d.tenants[name] = svc
	}
	for _, t := range cfg.Tenants {
		for _, k := range t.APIKeys {
			d.tenantKeys = append(d.tenantKeys, apiKey{key: k, tenant: t.Name, fraudAdmin: t.FraudAdmin})
		}
	}
	httpMetrics := withHTTPMetrics(metrics.NewHTTP(reg))
	// A few scrapes at a time: each reads Redis (metrics.Redis).
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
	var public http.Handler
	if cfg.HTTP.AdminAddr == "" {
		public = newHandler(d, metricsHandler, httpMetrics, withMonitoring(ops))
	} else {
		var pprof http.Handler
		if cfg.Monitoring.PprofAddr == cfg.HTTP.AdminAddr {
			pprof = server.AdminHandler()
		}
		admin := newAdminHandler(log, metricsHandler, pprof, httpMetrics, withMonitoring(ops))
		if _, err := server.Serve(ctx, log, "admin (metrics, monitoring)", cfg.HTTP.AdminAddr, admin); err != nil {
			return nil, fmt.Errorf("API_ADMIN_ADDR: %w", err)
		}
		public = newHandler(d, nil, httpMetrics)
	}
	if cfg.Monitoring.PprofAddr != "" && cfg.Monitoring.PprofAddr != cfg.HTTP.AdminAddr {
		if _, err := server.Serve(ctx, log, "admin (pprof)", cfg.Monitoring.PprofAddr, server.AdminHandler()); err != nil {
			return nil, fmt.Errorf("ADMIN_ADDR: %w", err)
		}
	}
	return public, nil
}

// listenAndDrain runs the public listener until ctx ends, then drains it: requests
// in flight finish, for at most drainTimeout.
func listenAndDrain(ctx context.Context, addr string, srv *http.Server, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
