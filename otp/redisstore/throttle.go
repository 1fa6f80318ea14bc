package redisstore

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Throttle implements otp.Throttle with redis_rate: at most perSecond
// deliveries a second across every worker, spaced evenly (burst 1), as the
// gateway's per-sender queue would space them anyway, instead of n at once
// then a pause.
type Throttle struct {
	limiter *redis_rate.Limiter
	rate    redis_rate.Limit
}

// NewThrottle returns a throttle of perSecond on rdb; nil when perSecond
// is 0 (no cap).
func NewThrottle(rdb redis.UniversalClient, perSecond int) *Throttle {
	if perSecond <= 0 {
		return nil
	}
	return &Throttle{limiter: redis_rate.NewLimiter(rdb),
		rate: redis_rate.Limit{Rate: perSecond, Period: time.Second, Burst: 1}}
}

// Take implements otp.Throttle.
func (t *Throttle) Take(ctx context.Context) (time.Duration, error) {
	res, err := t.limiter.Allow(ctx, throttleKey, t.rate)
	if err != nil {
		return 0, err
	}
	if res.Allowed == 0 {
		return max(res.RetryAfter, time.Millisecond), nil
	}
	return 0, nil
}
