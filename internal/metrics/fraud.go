package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/otp"
)

// fraud counts the fraud guard's decisions; OTP implements otp.Observer's
// fraud methods with it. Labels: the scope (prefix or country) and the
// mode (on, or shadow: decided but not enforced), never the range itself.
type fraud struct {
	blocks, refusals, unblocks *prometheus.CounterVec
}

func newFraud(reg prometheus.Registerer) fraud {
	f := fraud{
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_fraud_blocks_total",
			Help: "Number ranges (scope prefix) and countries the fraud guard blocked, by mode (on, or shadow: not enforced).",
		}, []string{"scope", "mode"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_fraud_refusals_total",
			Help: "Sends a fraud block refused (mode shadow: would have refused), by the block's scope.",
		}, []string{"scope", "mode"}),
		unblocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_fraud_unblocks_total",
			Help: "Fraud blocks that ended, by scope and reason (expired, or lifted through the API).",
		}, []string{"scope", "reason"}),
	}
	reg.MustRegister(f.blocks, f.refusals, f.unblocks)
	// Every series exists from the start, at 0: rate() and the alert see
	// the first block, not only the second.
	for _, scope := range []string{otp.FraudScopePrefix, otp.FraudScopeCountry} {
		for _, m := range []string{mode(false), mode(true)} {
			f.blocks.WithLabelValues(scope, m)
			f.refusals.WithLabelValues(scope, m)
		}
		for _, why := range []otp.FraudUnblock{otp.UnblockExpired, otp.UnblockLifted} {
			f.unblocks.WithLabelValues(scope, string(why))
		}
	}
	return f
}

func mode(shadow bool) string {
	if shadow {
		return string(otp.FraudShadow)
	}
	return string(otp.FraudOn)
}

// FraudBlocked implements otp.Observer.
func (m *OTP) FraudBlocked(scope string, shadow bool) {
	m.fraud.blocks.WithLabelValues(scope, mode(shadow)).Inc()
}

// FraudRefused implements otp.Observer.
func (m *OTP) FraudRefused(scope string, shadow bool) {
	m.fraud.refusals.WithLabelValues(scope, mode(shadow)).Inc()
}

// FraudUnblocked implements otp.Observer.
func (m *OTP) FraudUnblocked(scope string, why otp.FraudUnblock) {
	m.fraud.unblocks.WithLabelValues(scope, string(why)).Inc()
}
