package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/ratelimit"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/server"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
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
	aq := asynq.NewClientFromRedisClient(rdb)
	defer aq.Close()

	codec, err := otp.NewCodec(cfg.Codes.Secret, cfg.Codes.Length, rand.Reader)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.NewRedis(reg, rdb)
	shards := tasks.NewShards(cfg.Redis.QueueShards)
	svc := otp.NewService(codec, otp.NewStore(rdb), tasks.NewQueue(aq).WithShards(shards), cfg.Policy(), log).
		WithGuard(ratelimit.New(rdb, cfg.RateLimits()).WithParts(shards.Names(), shards.IndexOfTag)).
		WithObserver(metrics.NewOTP(reg)).
		WithLocales(cfg.Messages.Catalog)
	if cfg.Webhooks.URL != "" {
		svc.WithEvents(tasks.NewWebhooks(aq, rdb).WithShards(shards))
	}

	mon := newMonitoring(cfg.Redis.URL, cfg.Monitoring.ReadOnly)
	defer mon.Close()
	httpMetrics := withHTTPMetrics(metrics.NewHTTP(reg))
	ops := withMonitoring(dashboard{handler: mon, publicURL: cfg.HTTP.PublicURL,
		passwords: dashboardPasswords(cfg.Monitoring.Password, cfg.HTTP.APIKeys)})
	// A few scrapes at a time: each reads Redis (metrics.Redis).
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
	hooks := webhookConfig{PublicURL: cfg.HTTP.PublicURL, AuthToken: cfg.Twilio.AuthToken}
	var public http.Handler
	actx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	if cfg.HTTP.AdminAddr != "" {
		// /metrics and the dashboard leave the public listener.
		public = newHandler(log, svc, cfg.HTTP.APIKeys, codec.Length(), hooks, nil, httpMetrics)
		var pprof http.Handler
		if cfg.Monitoring.PprofAddr == cfg.HTTP.AdminAddr {
			pprof = server.AdminHandler()
		}
		admin := newAdminHandler(log, metricsHandler, pprof, httpMetrics, ops)
		if _, err := server.Serve(actx, log, "admin (metrics, monitoring)", cfg.HTTP.AdminAddr, admin); err != nil {
			return fmt.Errorf("API_ADMIN_ADDR: %w", err)
		}
	} else {
		public = newHandler(log, svc, cfg.HTTP.APIKeys, codec.Length(), hooks, metricsHandler, httpMetrics, ops)
	}
	srv := server.NewHTTPServer(public, log)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 15 * time.Second
	if cfg.Monitoring.PprofAddr != "" && cfg.Monitoring.PprofAddr != cfg.HTTP.AdminAddr {
		if _, err := server.Serve(actx, log, "admin (pprof)", cfg.Monitoring.PprofAddr, server.AdminHandler()); err != nil {
			return fmt.Errorf("ADMIN_ADDR: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
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
