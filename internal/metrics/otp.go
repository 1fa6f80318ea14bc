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
	fraud      fraud
}

// NewOTP registers the collectors on reg.
func NewOTP(reg prometheus.Registerer) *OTP {
	m := &OTP{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_sends_total",
			Help: "Codes queued for delivery, by channel, country calling code and kind (new or resend).",
		}, []string{"channel", "country_code", "kind"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_approvals_total",
			Help: "Verifications approved with the right code, by the channel of their latest attempt and country calling code.",
		}, []string{"channel", "country_code"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_failed_checks_total",
			Help: "Wrong codes, by country calling code.",
		}, []string{"channel", "country_code"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_rejections_total",
			Help: "Requests refused by a limit or a geo rule, by limit and country calling code.",
		}, []string{"limit", "country_code"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_expired_total",
			Help: "Checks that found their verification expired, by country calling code.",
		}, []string{"channel", "country_code"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_delivery_reports_total",
			Help: "Delivery statuses reported by Twilio status callbacks, by channel.",
		}, []string{"channel", "status"}),
	}
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_workflow_steps_total",
		Help: "Fallback workflow steps by channel and what became of them (started, failed, timed_out, skipped, approved, stopped).",
	}, []string{"channel", "status"})
	m.byStep = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_approvals_by_step_total",
		Help: "Approvals of verifications with a fallback workflow, by the step (1-4) and channel that converted, and country calling code.",
	}, []string{"step", "channel", "country_code"})
	reg.MustRegister(m.sends, m.approvals, m.failed, m.rejections, m.expired, m.delivery, m.steps, m.byStep)
	m.fraud = newFraud(reg)
	return m
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
