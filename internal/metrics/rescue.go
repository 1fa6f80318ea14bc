package metrics

import "github.com/prometheus/client_golang/prometheus"

// Rescues counts the tasks a worker's rescuer took from dead workers; it
// implements tasks.RescueObserver.
type Rescues struct{ rescued *prometheus.CounterVec }

// NewRescues registers the collector on reg.
func NewRescues(reg prometheus.Registerer) *Rescues {
	m := &Rescues{rescued: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otp_tasks_rescued_total",
		Help: "Tasks re-enqueued because the worker running them died (no live worker listed them), by task type.",
	}, []string{"type"})}
	reg.MustRegister(m.rescued)
	return m
}

// Rescued implements tasks.RescueObserver.
func (m *Rescues) Rescued(taskType string) { m.rescued.WithLabelValues(taskType).Inc() }
