package config

import (
	"log/slog"
	"time"
)

// Worker is how the worker runs.
type Worker struct {
	Concurrency int // WORKER_CONCURRENCY
	// ShutdownTimeout bounds the wait for sends in flight at SIGTERM.
	ShutdownTimeout time.Duration
	// SMSRateLimit caps messages per second across all workers; 0 is no cap.
	SMSRateLimit int
	// MetricsAddr serves the worker's /healthz, /readyz and /metrics.
	MetricsAddr string
}

func (e *env) worker() Worker {
	return Worker{
		Concurrency:     e.integer("WORKER_CONCURRENCY", 50, 1, 10000),
		ShutdownTimeout: e.dur("WORKER_SHUTDOWN_TIMEOUT", "20s", time.Second, 10*time.Minute),
		SMSRateLimit:    e.integer("SMS_RATE_LIMIT", 0, 0, 100000),
		MetricsAddr:     e.str("WORKER_METRICS_ADDR", ":9090"),
	}
}

func (w Worker) attrs() []slog.Attr {
	return []slog.Attr{slog.Int("worker_concurrency", w.Concurrency), slog.Int("sms_rate_limit", w.SMSRateLimit)}
}
