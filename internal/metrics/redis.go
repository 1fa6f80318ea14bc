package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis reports the health of a process's Redis client: a PING (up, and
// how long it took) and the connection pool's counters. A scrape waits at
// most pingTimeout for Redis, and scrapes within pingEvery of the last
// PING share its result: a flood of scrapes costs Redis one PING a second.
type Redis struct {
	rdb redis.UniversalClient

	mu       sync.Mutex
	pingedAt time.Time
	pingOK   bool
	pingTook time.Duration

	up, ping, conns, idle, timeouts, waits *prometheus.Desc
}

const (
	pingTimeout = 500 * time.Millisecond
	pingEvery   = time.Second
)

// NewRedis registers the collector on reg.
func NewRedis(reg prometheus.Registerer, rdb redis.UniversalClient) *Redis {
	r := &Redis{rdb: rdb,
		up:       prometheus.NewDesc("otp_redis_up", "1 when Redis answered a PING within 500 ms at this scrape, else 0.", nil, nil),
		ping:     prometheus.NewDesc("otp_redis_ping_seconds", "How long the scrape's PING took (absent when it failed).", nil, nil),
		conns:    prometheus.NewDesc("otp_redis_pool_connections", "Connections in the client's pool (all nodes).", nil, nil),
		idle:     prometheus.NewDesc("otp_redis_pool_idle_connections", "Idle connections in the client's pool.", nil, nil),
		timeouts: prometheus.NewDesc("otp_redis_pool_timeouts_total", "Times a command waited for a pooled connection in vain.", nil, nil),
		waits:    prometheus.NewDesc("otp_redis_pool_misses_total", "Times a command found no idle connection and dialed a new one.", nil, nil),
	}
	reg.MustRegister(r)
	return r
}

// Describe implements prometheus.Collector.
func (r *Redis) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.up, r.ping, r.conns, r.idle, r.timeouts, r.waits} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Redis) Collect(ch chan<- prometheus.Metric) {
	ok, took := r.pingCached()
	up := 0.0
	if ok {
		up = 1
		ch <- prometheus.MustNewConstMetric(r.ping, prometheus.GaugeValue, took.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(r.up, prometheus.GaugeValue, up)
	if s := r.rdb.PoolStats(); s != nil {
		ch <- prometheus.MustNewConstMetric(r.conns, prometheus.GaugeValue, float64(s.TotalConns))
		ch <- prometheus.MustNewConstMetric(r.idle, prometheus.GaugeValue, float64(s.IdleConns))
		ch <- prometheus.MustNewConstMetric(r.timeouts, prometheus.CounterValue, float64(s.Timeouts))
		ch <- prometheus.MustNewConstMetric(r.waits, prometheus.CounterValue, float64(s.Misses))
	}
}

func (r *Redis) pingCached() (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.pingedAt) >= pingEvery {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		start := time.Now()
		r.pingOK = r.rdb.Ping(ctx).Err() == nil
		r.pingTook = time.Since(start)
		r.pingedAt = time.Now()
	}
	return r.pingOK, r.pingTook
}
