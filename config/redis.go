package config

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedis builds the one Redis client a process shares between the store
// and asynq. Timeouts are short and retries few, so a Redis outage turns
// into a prompt 503 instead of a request that hangs.
func NewRedis(rawURL string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.PoolTimeout = 2 * time.Second
	// No retries: go-redis retries a command after a read timeout, and a
	// Lua script that already ran (counting an attempt, creating a
	// verification) must not run twice. A failure is a 503 and the
	// client's retry is the retry.
	opt.MaxRetries = -1
	return redis.NewClient(opt), nil
}
