package redistest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Logged runs run with every command Redis serves in SLOWLOG, sized for
// capacity entries, and returns what it logged; the SLOWLOG settings are
// put back after. A log that filled up is an error: sums over it would be
// short. (SLOWLOG times a command's execution in wall time, scripts whole.)
func Logged(ctx context.Context, c *redis.Client, capacity int, run func() error) ([]redis.SlowLog, error) {
	old, err := c.ConfigGet(ctx, "slowlog-*").Result()
	if err != nil {
		return nil, err
	}
	defer func() {
		for k, v := range old {
			c.ConfigSet(ctx, k, v)
		}
	}()
	if err := c.ConfigSet(ctx, "slowlog-max-len", strconv.Itoa(capacity)).Err(); err != nil {
		return nil, err
	}
	if err := c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err(); err != nil {
		return nil, err
	}
	if err := c.SlowLogReset(ctx).Err(); err != nil {
		return nil, err
	}
	if err := run(); err != nil {
		return nil, err
	}
	entries, err := c.SlowLogGet(ctx, int64(capacity)).Result()
	if err != nil {
		return nil, err
	}
	if len(entries) >= capacity {
		return nil, fmt.Errorf("slowlog: %d entries filled it, the sums would be short", len(entries))
	}
	return entries, nil
}

// CPU is the server's used_cpu_user + used_cpu_sys, in seconds (0 for a
// field Redis did not give).
func CPU(ctx context.Context, c redis.UniversalClient) float64 {
	var t float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := strconv.ParseFloat(InfoField(ctx, c, "cpu", f), 64)
		t += v
	}
	return t
}
