package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/devsms"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/ratelimit"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/server"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
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
		return server.Probe(getenv("WORKER_METRICS_ADDR"), ":9090")
	}
	cfg, log, err := config.Startup(getenv, stdout, "worker")
	if err != nil {
		return err
	}

	rdb, err := redisconn.New(cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redis unreachable at %s: %w", logmask.URL(cfg.Redis.URL), err)
	}

	codec, err := otp.NewCodec(cfg.Codes.Secret, cfg.Codes.Length, rand.Reader)
	if err != nil {
		return err
	}
	var sender otp.Sender
	if cfg.Twilio.Configured() {
		sender, err = twilio.New(twilio.Config{
			AccountSID: cfg.Twilio.AccountSID, AuthToken: cfg.Twilio.AuthToken,
			From: cfg.Twilio.PhoneNumber, MessagingServiceSID: cfg.Twilio.MessagingServiceSID,
			WhatsAppFrom: cfg.Twilio.WhatsAppFrom, WhatsAppContentSID: cfg.Twilio.WhatsAppContentSID,
			VoiceFrom: cfg.Twilio.VoiceFrom,
			APIURL:    cfg.Twilio.APIURL, Timeout: cfg.Twilio.Timeout,
			Concurrency: cfg.Worker.Concurrency,
		})
		if err != nil {
			return err
		}
	} else {
		log.Warn("DEVELOPMENT ONLY: no Twilio credentials, SMS are printed to this log instead of sent")
		sender = devsms.New(log)
	}

	hcfg := tasks.HandlerConfig{
		Messages: cfg.Messages.Catalog,
		Brand:    cfg.Messages.Brand, Brands: cfg.Messages.Brands,
		Channels: cfg.Channels.Enabled, VoiceAllowedCountries: cfg.Channels.VoiceAllowedCountries,
		// A claim younger than the HTTP timeout may belong to a live request;
		// only past it (plus slack for clock skew between workers) is the
		// owner presumed dead and the SMS sent again.
		StaleClaim: cfg.Twilio.Timeout + 5*time.Second,
	}
	if cfg.HTTP.PublicURL != "" && cfg.Twilio.Configured() {
		hcfg.StatusCallback = cfg.HTTP.PublicURL + tasks.StatusCallbackPath
	}
	if cfg.Worker.SMSRateLimit > 0 {
		hcfg.Limiter = redis_rate.NewLimiter(rdb)
		// Burst 1: messages are spaced evenly, as Twilio's per-sender queue
		// would space them anyway, instead of n at once then a pause.
		hcfg.Rate = redis_rate.Limit{Rate: cfg.Worker.SMSRateLimit, Period: time.Second, Burst: 1}
	}
	reg := prometheus.NewRegistry()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		asynqmetrics.NewQueueMetricsCollector(insp))
	metrics.NewRedis(reg, rdb)
	hcfg.Observer = metrics.NewSMS(reg)
	// The worker moves workflows on (a failed step, a step's timeout) and
	// emits events, through the same service as the api.
	aq := asynq.NewClientFromRedisClient(rdb)
	defer aq.Close()
	store := otp.NewStore(rdb)
	shards := tasks.NewShards(cfg.Redis.QueueShards)
	svc := otp.NewService(codec, store, tasks.NewQueue(aq).WithShards(shards), cfg.Policy(), log).
		WithGuard(ratelimit.New(rdb, cfg.RateLimits()).WithParts(shards.Names(), shards.IndexOfTag)).
		WithObserver(metrics.NewOTP(reg)).WithLocales(cfg.Messages.Catalog)
	if cfg.Webhooks.URL != "" {
		svc.WithEvents(tasks.NewWebhooks(aq, rdb).WithShards(shards))
	}
	hcfg.Reports = svc
	handler := tasks.NewSendHandler(store, codec, sender, hcfg, time.Now, log)
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeSendSMS, handler)
	mux.Handle(tasks.TypeStepTimeout, tasks.NewStepHandler(svc))
	mux.Handle(tasks.TypeExpire, tasks.NewExpireHandler(svc))

	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       cfg.Worker.Concurrency,
		Queues:            shards.Weights(),
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
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	stopWebhooks, err := startWebhooks(ctx, cfg, rdb, insp, reg, log)
	if err != nil {
		srv.Shutdown()
		return err
	}
	stopWebhooks = sync.OnceFunc(stopWebhooks)
	defer stopWebhooks()
	var running atomic.Bool
	running.Store(true)
	hctx, stopHTTP := context.WithCancel(context.Background())
	defer stopHTTP()
	if _, err := server.Serve(hctx, log, "metrics", cfg.Worker.MetricsAddr, healthHandler(rdb, &running, reg)); err != nil {
		srv.Shutdown()
		return fmt.Errorf("WORKER_METRICS_ADDR: %w", err)
	}
	if cfg.Monitoring.PprofAddr != "" {
		if _, err := server.Serve(hctx, log, "admin (pprof)", cfg.Monitoring.PprofAddr, server.AdminHandler()); err != nil {
			srv.Shutdown()
			return fmt.Errorf("ADMIN_ADDR: %w", err)
		}
	}
	log.Info("processing", "queues", shards.Names(), "concurrency", cfg.Worker.Concurrency)
	<-ctx.Done()
	log.Info("shutting down: finishing in-flight sends", "timeout", cfg.Worker.ShutdownTimeout)
	running.Store(false) // not ready: a load balancer or probe sees it first
	// Both servers wind down together, so the whole stop fits in
	// WORKER_SHUTDOWN_TIMEOUT, not twice it.
	webhooksDone := make(chan struct{})
	go func() { defer close(webhooksDone); stopWebhooks() }()
	srv.Shutdown()
	<-webhooksDone
	log.Info("stopped")
	return nil
}

// healthHandler serves the worker's probes and metrics: /healthz while the
// process runs; /readyz while its asynq server runs and Redis answers.
func healthHandler(rdb redis.UniversalClient, running *atomic.Bool, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !running.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"stopping"}`)
		case rdb.Ping(ctx).Err() != nil:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"redis unreachable"}`)
		default:
			fmt.Fprintln(w, `{"status":"ready"}`)
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4}))
	return mux
}


// asynqLogger routes asynq's logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// startWebhooks serves the event queue with an asynq server of its own:
// a receiver that is down or hangs holds WEBHOOK_CONCURRENCY workers, never
// the sends'. It also trims the events waiting to WEBHOOK_MAX_PENDING.
func startWebhooks(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, insp *asynq.Inspector,
	reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	if cfg.Webhooks.URL == "" {
		return func() {}, nil
	}
	h, err := tasks.NewWebhookHandler(tasks.WebhookConfig{URL: cfg.Webhooks.URL, Secret: cfg.Webhooks.Secret,
		MaxAge: cfg.Webhooks.MaxAge, MaxPending: int64(cfg.Webhooks.MaxPending), Observer: metrics.NewWebhooks(reg),
		Concurrency: cfg.Webhooks.Concurrency},
		rdb, time.Now, log)
	if err != nil {
		return nil, err
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhook, h)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Webhooks.Concurrency,
		Queues:                   map[string]int{tasks.WebhookQueue: 1},
		RetryDelayFunc:           tasks.WebhookRetryDelay,
		ShutdownTimeout:          cfg.Worker.ShutdownTimeout,
		DelayedTaskCheckInterval: time.Second,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.ErrorLevel,
	})
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("start the webhook server: %w", err)
	}
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			if err := h.Trim(tctx, insp); err != nil && tctx.Err() == nil {
				log.Warn("trim the waiting verification events", "err", err)
			}
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("delivering verification events", "url", logmask.URL(cfg.Webhooks.URL), "concurrency", cfg.Webhooks.Concurrency)
	return func() { cancel(); <-done; srv.Shutdown() }, nil
}
