package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/tasks"
)

// startWebhooks serves the event queue with an asynq server of its own:
// a receiver that is down or hangs holds WEBHOOK_CONCURRENCY workers, never
// the sends'. (The events waiting are trimmed by parts.RunBacklog, in the
// api too.)
func startWebhooks(cfg config.Config, rdb redis.UniversalClient, parts *app.Parts, log *slog.Logger) (stop func(), err error) {
	w := cfg.Webhooks
	receivers := map[string]tasks.Receiver{}
	for _, t := range cfg.Tenants {
		if t.WebhookURL != "" {
			receivers[t.Name] = tasks.Receiver{URL: t.WebhookURL, Secret: t.WebhookSecret}
		}
	}
	if w.URL == "" && len(receivers) == 0 {
		return func() {}, nil
	}
	h, err := tasks.NewWebhookHandler(tasks.WebhookConfig{URL: w.URL, Secret: w.Secret, Tenants: receivers, MaxAge: w.MaxAge,
		Observer: parts.WebhookMetrics, Concurrency: w.Concurrency},
		parts.Events, time.Now, log)
	if err != nil {
		return nil, err
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhook, h)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              w.Concurrency,
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
	log.Info("delivering verification events", "url", logmask.URL(w.URL), "tenant_receivers", len(receivers), "concurrency", w.Concurrency)
	return srv.Shutdown, nil
}
