package metrics

import (
	"cmp"

	"github.com/prometheus/client_golang/prometheus"
)

// Webhooks measures the delivery of verification events; it implements
// tasks.WebhookObserver.
type Webhooks struct {
	deliveries *prometheus.CounterVec
	pending    prometheus.Gauge
}

// NewWebhooks registers the collectors on reg.
func NewWebhooks(reg prometheus.Registerer) *Webhooks {
	m := &Webhooks{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_webhooks_total",
			Help: "Verification event deliveries by event type and outcome (delivered, failed: another try comes, expired: WEBHOOK_MAX_AGE passed, dropped: WEBHOOK_MAX_PENDING).",
		}, []string{"type", "outcome"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "otp_webhooks_pending",
			Help: "Verification events waiting for delivery.",
		}),
	}
	reg.MustRegister(m.deliveries, m.pending)
	return m
}

// Webhook implements tasks.WebhookObserver.
func (m *Webhooks) Webhook(eventType, outcome string) {
	m.deliveries.WithLabelValues(cmp.Or(eventType, "unknown"), outcome).Inc()
}

// WebhooksPending implements tasks.WebhookObserver.
func (m *Webhooks) WebhooksPending(n int64) { m.pending.Set(float64(n)) }
