package config

import (
	"log/slog"
	"net/url"
	"slices"

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
}

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
	return r
}

func (r Redis) attrs() []slog.Attr {
	return []slog.Attr{slog.String("redis_url", logmask.URL(r.URL)), slog.Int("queue_shards", r.QueueShards)}
}
