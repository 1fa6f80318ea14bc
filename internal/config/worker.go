package config

import (
	"log/slog"
	"time"
)

// DefaultWorkerMetricsAddr is loopback: the worker's /metrics carries the
// per-country counts a pumping operation watches, and has no auth, so it
// reaches the network only when WORKER_METRICS_ADDR says so.
const DefaultWorkerMetricsAddr = "127.0.0.1:9090"

// Worker is how the worker runs.
type Worker struct {
	Concurrency int // WORKER_CONCURRENCY
	// ShutdownTimeout bounds the wait for sends in flight at SIGTERM.
	ShutdownTimeout time.Duration
	// SMSRateLimit caps messages per second across all workers; 0 is no cap.
	SMSRateLimit int
	// MetricsAddr serves the worker's /healthz, /readyz and /metrics
	// (WORKER_METRICS_ADDR, DefaultWorkerMetricsAddr when unset).
	MetricsAddr string
}

func (e *env) worker() Worker {
	return Worker{
		Concurrency:     e.integer("WORKER_CONCURRENCY", 50, 1, 10000),
		ShutdownTimeout: e.dur("WORKER_SHUTDOWN_TIMEOUT", "20s", time.Second, 10*time.Minute),
		SMSRateLimit:    e.integer("SMS_RATE_LIMIT", 0, 0, 100000),
		MetricsAddr:     e.str("WORKER_METRICS_ADDR", DefaultWorkerMetricsAddr),
	}
}

func (w Worker) attrs() []slog.Attr {
	return []slog.Attr{slog.Int("worker_concurrency", w.Concurrency), slog.Int("sms_rate_limit", w.SMSRateLimit),
		slog.String("worker_metrics_addr", w.MetricsAddr)}
}
