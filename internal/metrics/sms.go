package metrics

import (
	"cmp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/otp"
)

// SMS measures the worker's deliveries; it implements otp.DeliveryObserver.
type SMS struct {
	sends   *prometheus.CounterVec
	spend   *prometheus.CounterVec
	latency prometheus.ObserverVec
	root    *SMS // the collectors with their tenant label free
}

// NewSMS registers the collectors on reg.
func NewSMS(reg prometheus.Registerer) *SMS {
	m := &SMS{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_sms_sends_total",
			Help: "Send attempts (SMS, WhatsApp messages and calls) by channel, outcome (accepted, permanent_error, transient_error, skipped, deferred, duplicate_suppressed, integrity_error) and Twilio error code (0: none).",
		}, []string{"channel", "outcome", "error_code", "tenant"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otp_sms_accept_latency_seconds",
			Help:    "From the send request (queued) to Twilio accepting the message or call, by channel.",
			Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 2, 5, 10, 30, 60, 120, 300},
		}, []string{"channel", "tenant"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_spend_total",
			Help: "Estimated spend on sends the gateway accepted (CHANNEL_PRICES), in the currency label, by channel and country calling code; otp_refunds_total is what came back.",
		}, []string{"channel", "country_code", "currency", "tenant"}),
	}
	reg.MustRegister(m.sends, m.latency, m.spend)
	m.root = m
	return m.ForTenant(otp.DefaultTenant)
}

// ForTenant measures the deliveries of one tenant's verifications.
func (m *SMS) ForTenant(name string) *SMS {
	t := prometheus.Labels{"tenant": name}
	return &SMS{sends: m.root.sends.MustCurryWith(t), spend: m.root.spend.MustCurryWith(t),
		latency: m.root.latency.MustCurryWith(t), root: m.root}
}

// Delivery implements otp.DeliveryObserver.
func (m *SMS) Delivery(channel string, outcome otp.DeliveryOutcome, errorCode int) {
	m.sends.WithLabelValues(cmp.Or(channel, "unknown"), string(outcome), strconv.Itoa(errorCode)).Inc()
}

// Accepted implements otp.DeliveryObserver.
func (m *SMS) Accepted(channel string, sinceQueued time.Duration) {
	m.latency.WithLabelValues(channel).Observe(sinceQueued.Seconds())
}

// Spent implements otp.DeliveryObserver.
func (m *SMS) Spent(channel string, code int, currency string, price float64) {
	m.spend.WithLabelValues(channel, cc(code), currency).Add(price)
}
