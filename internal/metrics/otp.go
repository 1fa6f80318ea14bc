// Package metrics holds the Prometheus collectors of the service.
// Labels carry country calling codes and limit names, never a phone
// number or a code, so cardinality stays bounded (~250 calling codes).
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/otp"
)

// OTP counts the verification lifecycle; it implements otp.Observer.
type OTP struct {
	sends      *prometheus.CounterVec
	approvals  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	rejections *prometheus.CounterVec
	expired    *prometheus.CounterVec
	delivery   *prometheus.CounterVec
	steps      *prometheus.CounterVec
	byStep     *prometheus.CounterVec
	refunds    *prometheus.CounterVec
	fraud      fraud
	// root holds the collectors with their tenant label free, for ForTenant.
	root *OTP
}

// NewOTP registers the collectors on reg.
func NewOTP(reg prometheus.Registerer) *OTP {
	m := &OTP{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_sends_total",
			Help: "Codes queued for delivery, by channel, country calling code and kind (new or resend).",
		}, []string{"channel", "country_code", "kind", "tenant"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_approvals_total",
			Help: "Verifications approved with the right code, by the channel of their latest attempt and country calling code.",
		}, []string{"channel", "country_code", "tenant"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_failed_checks_total",
			Help: "Wrong codes, by country calling code.",
		}, []string{"channel", "country_code", "tenant"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_rejections_total",
			Help: "Requests refused by a limit or a geo rule, by limit and country calling code.",
		}, []string{"limit", "country_code", "tenant"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_expired_total",
			Help: "Checks that found their verification expired, by country calling code.",
		}, []string{"channel", "country_code", "tenant"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_delivery_reports_total",
			Help: "Delivery statuses reported by Twilio status callbacks, by channel.",
		}, []string{"channel", "status", "tenant"}),
	}
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_workflow_steps_total",
		Help: "Fallback workflow steps by channel and what became of them (started, failed, timed_out, skipped, approved, stopped).",
	}, []string{"channel", "status", "tenant"})
	m.byStep = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_approvals_by_step_total",
		Help: "Approvals of verifications with a fallback workflow, by the step (1-4) and channel that converted, and country calling code.",
	}, []string{"step", "channel", "country_code", "tenant"})
	m.refunds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_refunds_total",
		Help: "Estimated spend given back by the gateway (Telegram's refunds of messages not delivered in their ttl), in the currency label, by channel and country calling code.",
	}, []string{"channel", "country_code", "currency", "tenant"})
	reg.MustRegister(m.sends, m.approvals, m.failed, m.rejections, m.expired, m.delivery, m.steps, m.byStep, m.refunds)
	m.fraud = newFraud(reg)
	m.root = m
	return m.ForTenant(otp.DefaultTenant)
}

// ForTenant counts one tenant's verifications: every collector but the
// fraud guard's (which guards all tenants at once) carries its name in the
// tenant label, bounded by TENANTS_FILE.
func (m *OTP) ForTenant(name string) *OTP {
	r := m.root
	t := prometheus.Labels{"tenant": name}
	return &OTP{sends: r.sends.MustCurryWith(t), approvals: r.approvals.MustCurryWith(t), failed: r.failed.MustCurryWith(t),
		rejections: r.rejections.MustCurryWith(t), expired: r.expired.MustCurryWith(t), delivery: r.delivery.MustCurryWith(t),
		steps: r.steps.MustCurryWith(t), byStep: r.byStep.MustCurryWith(t), refunds: r.refunds.MustCurryWith(t),
		fraud: r.fraud, root: r}
}

// WorkflowStep implements otp.Observer.
func (m *OTP) WorkflowStep(channel string, status otp.StepStatus) {
	m.steps.WithLabelValues(channel, string(status)).Inc()
}

// ApprovedByStep implements otp.Observer.
func (m *OTP) ApprovedByStep(step int, channel string, code int) {
	m.byStep.WithLabelValues(strconv.Itoa(step), channel, cc(code)).Inc()
}

func cc(code int) string {
	if code <= 0 {
		return "unknown"
	}
	return strconv.Itoa(code)
}

// Sent implements otp.Observer.
func (m *OTP) Sent(channel string, code int, resend bool) {
	kind := "new"
	if resend {
		kind = "resend"
	}
	m.sends.WithLabelValues(channel, cc(code), kind).Inc()
}

// Approved implements otp.Observer.
func (m *OTP) Approved(channel string, code int) {
	m.approvals.WithLabelValues(channel, cc(code)).Inc()
}

// CheckFailed implements otp.Observer.
func (m *OTP) CheckFailed(channel string, code int) {
	m.failed.WithLabelValues(channel, cc(code)).Inc()
}

// Expired implements otp.Observer.
func (m *OTP) Expired(channel string, code int) { m.expired.WithLabelValues(channel, cc(code)).Inc() }

// DeliveryReported implements otp.Observer.
func (m *OTP) DeliveryReported(channel string, status otp.DeliveryStatus) {
	m.delivery.WithLabelValues(channel, string(status)).Inc()
}

// Rejected implements otp.Observer.
func (m *OTP) Rejected(reason otp.LimitReason, code int) {
	m.rejections.WithLabelValues(string(reason), cc(code)).Inc()
}

// Refunded implements otp.Observer.
func (m *OTP) Refunded(channel string, code int, currency string, price float64) {
	m.refunds.WithLabelValues(channel, cc(code), currency).Add(price)
}
