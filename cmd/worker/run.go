package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/server"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// Timeouts, shortest first; each must stay below the next:
//
//	TWILIO_TIMEOUT (10s)  <  WORKER_SHUTDOWN_TIMEOUT (20s)  <  the termination
//	grace period of the deployment (30s in deploy/)
//
// so a send in flight when SIGTERM arrives completes (or times out) before
// asynq abandons it, and asynq returns the task before the process is killed.
// config enforces the first relation.

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 && args[1] == "-healthcheck" {
		return server.Probe(getenv("WORKER_METRICS_ADDR"), config.DefaultWorkerMetricsAddr)
	}
	cfg, log, err := config.Startup(getenv, stdout, "worker")
	if err != nil {
		return err
	}
	rdb, err := connect(ctx, cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		asynqmetrics.NewQueueMetricsCollector(insp))
	metrics.NewRedis(reg, rdb)
	o := app.FromConfig(cfg, log)
	o.Metrics = reg
	// REDIS_MIN_REPLICAS holds the api's answer to a send; the worker
	// answers nobody, and would only export an empty histogram.
	o.MinReplicas = 0
	if o.Sender, err = app.NewSender(cfg, log); err != nil {
		return err
	}
	parts, err := app.Build(rdb, o)
	if err != nil {
		return err
	}
	defer parts.Asynq.Close()
	// The guard's late counts are written until the requests have drained;
	// the events waiting for delivery are kept within bounds until then.
	gctx, stopGuard := context.WithCancel(context.WithoutCancel(ctx))
	waitGuard, waitBacklog := parts.RunGuard(gctx), parts.RunBacklog(gctx)
	defer func() { stopGuard(); waitGuard(); waitBacklog() }()

	var running atomic.Bool
	running.Store(true)
	stop, err := start(cfg, log, rdb, parts, reg, &running)
	if err != nil {
		return err
	}
	log.Info("processing", "queues", parts.Shards.Names(), "concurrency", cfg.Worker.Concurrency)
	<-ctx.Done()
	log.Info("shutting down: finishing in-flight sends", "timeout", cfg.Worker.ShutdownTimeout)
	running.Store(false) // not ready: a load balancer or probe sees it first
	stop()
	log.Info("stopped")
	return nil
}

// connect is the process's one Redis client, once it answers.
func connect(ctx context.Context, url string) (redis.UniversalClient, error) {
	rdb, err := redisconn.New(url)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable at %s: %w", logmask.URL(url), err)
	}
	return rdb, nil
}

// start runs the send queues' server, the events' server and the
// listeners; stop winds them down together, so the whole stop fits in
// WORKER_SHUTDOWN_TIMEOUT, not twice it.
func start(cfg config.Config, log *slog.Logger, rdb redis.UniversalClient, parts *app.Parts,
	reg *prometheus.Registry, running *atomic.Bool) (stop func(), err error) {
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       cfg.Worker.Concurrency,
		Queues:            parts.Shards.Weights(),
		RetryDelayFunc:    tasks.RetryDelay,
		IsFailure:         tasks.IsFailure,
		ShutdownTimeout:   cfg.Worker.ShutdownTimeout,
		TaskCheckInterval: 50 * time.Millisecond, // an idle worker picks up a new OTP within ~50 ms
		// Retries wait seconds, not minutes: move due retries to the queue promptly.
		DelayedTaskCheckInterval: 250 * time.Millisecond,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if tasks.IsFailure(err) {
				log.WarnContext(ctx, "task failed", "type", t.Type(), "err", err)
			}
		}),
	})
	mux := tasks.NewTenantMux(func(name string) (tasks.Service, bool) {
		svc, ok := parts.Tenants[cmp.Or(name, otp.DefaultTenant)]
		return svc, ok
	})
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("start asynq server: %w", err)
	}
	stopWebhooks, err := startWebhooks(cfg, rdb, parts, log)
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	hctx, stopHTTP := context.WithCancel(context.Background())
	if err := listen(hctx, cfg, log, healthHandler(rdb, running, reg)); err != nil {
		stopHTTP()
		stopWebhooks()
		srv.Shutdown()
		return nil, err
	}
	rctx, stopRescue := context.WithCancel(context.Background())
	var rescuing sync.WaitGroup
	storeNow := func(ctx context.Context) (time.Time, error) { return rdb.Time(ctx).Result() }
	rescuer := tasks.NewRescuer(asynq.NewInspectorFromRedisClient(rdb), parts.Asynq, parts.Shards.Names(), time.Now,
		storeNow, log, metrics.NewRescues(reg))
	rescuing.Go(func() { rescuer.Run(rctx, tasks.RescueInterval) })
	return func() {
		// No rescue while this worker hands its own tasks back.
		stopRescue()
		rescuing.Wait()
		var wg sync.WaitGroup
		wg.Go(stopWebhooks)
		srv.Shutdown()
		wg.Wait()
		stopHTTP()
	}, nil
}

// listen serves the probes and metrics (WORKER_METRICS_ADDR) and pprof
// (ADMIN_ADDR) until ctx ends.
func listen(ctx context.Context, cfg config.Config, log *slog.Logger, health http.Handler) error {
	if _, err := server.Serve(ctx, log, "metrics", cfg.Worker.MetricsAddr, health); err != nil {
		return fmt.Errorf("WORKER_METRICS_ADDR: %w", err)
	}
	if cfg.Monitoring.PprofAddr != "" {
		if _, err := server.Serve(ctx, log, "admin (pprof)", cfg.Monitoring.PprofAddr, server.AdminHandler()); err != nil {
			return fmt.Errorf("ADMIN_ADDR: %w", err)
		}
	}
	return nil
}

// asynqLogger routes asynq's logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
