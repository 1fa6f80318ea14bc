package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
)

// Replication implements otp.Replication with Redis's WAIT, for one
// primary (standalone, or Sentinel's): replication is one stream per
// primary, so a replica that has a write has every write made before it.
// Wait makes one small write and sends WAIT after it in one pipeline, which
// is one connection: WAIT waits for that connection's last write, and so
// for every earlier write on the primary, this process's record writes and
// asynq's enqueue included, whichever pooled connection made them.
//
// A Redis Cluster has a primary per slot range, and a send's record and
// its queue's task may sit on two of them: NewReplication refuses a
// cluster client rather than wait on one primary and pretend for both.
type Replication struct {
	rdb      redis.UniversalClient
	replicas int
	timeout  time.Duration
	observer ReplicationObserver
}

// ReplicationObserver counts the waits: how long each took, and whether
// enough replicas acknowledged.
type ReplicationObserver interface {
	ReplicationWaited(took time.Duration, ok bool)
}

// replicationKey is the small write that WAIT follows, kept a minute: it
// holds nothing, so no verification's id lingers in it.
const replicationKey = "otp:replicated"

// NewReplication waits for replicas replicas (REDIS_MIN_REPLICAS), at most
// timeout each time (REDIS_MIN_REPLICAS_TIMEOUT, which must stay under the
// client's read timeout).
func NewReplication(rdb redis.UniversalClient, replicas int, timeout time.Duration) (*Replication, error) {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return nil, errors.New("REDIS_MIN_REPLICAS is not supported on a Redis Cluster: a send's record and its queued task may live on different primaries")
	}
	if replicas < 1 || timeout <= 0 {
		return nil, fmt.Errorf("replication: want at least 1 replica and a timeout (got %d, %s)", replicas, timeout)
	}
	return &Replication{rdb: rdb, replicas: replicas, timeout: timeout}, nil
}

// WithObserver has o count the waits.
func (r *Replication) WithObserver(o ReplicationObserver) *Replication {
	r.observer = o
	return r
}

// Wait implements otp.Replication. On one primary every verification's
// writes are in one stream, so id does not matter.
func (r *Replication) Wait(ctx context.Context, _ string) error {
	start := time.Now()
	var wait *redis.Cmd
	_, err := r.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, replicationKey, "1", time.Minute)
		wait = pipe.Do(ctx, "wait", r.replicas, r.timeout.Milliseconds())
		return nil
	})
	took := time.Since(start)
	acked, werr := wait.Int64()
	if err = cmp.Or(err, werr); err != nil {
		return fmt.Errorf("%w: wait for replicas: %w", otp.ErrUnavailable, err)
	}
	ok := acked >= int64(r.replicas)
	if r.observer != nil {
		r.observer.ReplicationWaited(took, ok)
	}
	if !ok {
		return fmt.Errorf("%w: %d of %d replicas acknowledged within %s", otp.ErrNotReplicated, acked, r.replicas, r.timeout)
	}
	return nil
}
