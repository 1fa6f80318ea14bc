package config

import (
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/internal/redisconn"
)

// Redis is the one Redis both processes share, and how the send queue
// spreads over it.
type Redis struct {
	// URL is REDIS_URL, or the redis-cluster:// URL REDIS_CLUSTER_ADDRS
	// stands for (redisconn.New says which URLs).
	URL string
	// QueueShards spreads the send queue over that many asynq queues, so
	// that on a Redis Cluster it is not one master's load (tasks.Shards).
	QueueShards int
	// MinReplicas is REDIS_MIN_REPLICAS: a send is answered 202 only once
	// that many replicas have its writes (Redis WAIT), else it is undone
	// and answered 503; 0 waits for none. MinReplicasTimeout bounds each
	// wait (REDIS_MIN_REPLICAS_TIMEOUT), under the client's 1 s read
	// timeout.
	MinReplicas        int
	MinReplicasTimeout time.Duration
}

// MaxMinReplicasTimeout bounds REDIS_MIN_REPLICAS_TIMEOUT: WAIT's reply must
// come within the Redis client's read timeout (1 s, redisconn).
const MaxMinReplicasTimeout = 800 * time.Millisecond

func (e *env) redis() Redis {
	r := Redis{URL: e.str("REDIS_URL", "redis://localhost:6379/0"), QueueShards: e.integer("QUEUE_SHARDS", 1, 1, 256)}
	if addrs := e.str("REDIS_CLUSTER_ADDRS", ""); addrs != "" {
		if u, err := redisconn.ClusterURL(addrs, e.raw("REDIS_URL")); err != nil {
			e.bad("REDIS_CLUSTER_ADDRS", "%v", err)
		} else {
			r.URL = u
		}
	}
	schemes := []string{"redis", "rediss", "unix", "redis-sentinel", "redis-cluster"}
	if u, err := url.Parse(r.URL); err != nil || !slices.Contains(schemes, u.Scheme) {
		e.bad("REDIS_URL", "want redis://, rediss://, unix://, redis-sentinel:// or redis-cluster:// (got %q)", logmask.URL(r.URL))
	}
	e.minReplicas(&r)
	return r
}

// minReplicas reads REDIS_MIN_REPLICAS and its timeout. A Redis Cluster is
// refused: a send's record and its queued task may be on two primaries,
// and one WAIT covers one.
func (e *env) minReplicas(r *Redis) {
	r.MinReplicas = e.integer("REDIS_MIN_REPLICAS", 0, 0, 16)
	r.MinReplicasTimeout = e.dur("REDIS_MIN_REPLICAS_TIMEOUT", "500ms", time.Millisecond, MaxMinReplicasTimeout)
	if u, err := url.Parse(r.URL); err == nil && u.Scheme == "redis-cluster" && r.MinReplicas > 0 {
		e.bad("REDIS_MIN_REPLICAS", "not supported on a Redis Cluster (REDIS_URL redis-cluster:// or REDIS_CLUSTER_ADDRS): "+
			"a send's record and its queued task may be on different primaries; use a single primary with Sentinel, or leave it 0")
	}
}

func (r Redis) attrs() []slog.Attr {
	return []slog.Attr{slog.String("redis_url", logmask.URL(r.URL)), slog.Int("queue_shards", r.QueueShards),
		slog.Int("redis_min_replicas", r.MinReplicas), slog.Duration("redis_min_replicas_timeout", r.MinReplicasTimeout)}
}
