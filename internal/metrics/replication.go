package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Replication counts the api's waits for Redis replicas before it answers
// a send (REDIS_MIN_REPLICAS): each WAIT's latency, and the sends refused
// because too few replicas acknowledged in time.
type Replication struct {
	wait    prometheus.Histogram
	refused prometheus.Counter
}

// NewReplication registers the collectors on reg.
func NewReplication(reg prometheus.Registerer) *Replication {
	m := &Replication{
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "otp_redis_wait_seconds",
			Help:    "How long a send's WAIT for REDIS_MIN_REPLICAS replicas took (two per send: before and after its enqueue).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otp_redis_not_replicated_total",
			Help: "Sends refused (503 redis_not_replicated, and undone) because fewer than REDIS_MIN_REPLICAS replicas acknowledged within REDIS_MIN_REPLICAS_TIMEOUT.",
		}),
	}
	reg.MustRegister(m.wait, m.refused)
	return m
}

// ReplicationWaited implements redisstore.ReplicationObserver.
func (m *Replication) ReplicationWaited(took time.Duration, ok bool) {
	m.wait.Observe(took.Seconds())
	if !ok {
		m.refused.Inc()
	}
}
