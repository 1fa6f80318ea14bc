package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventIndex indexes the verification events waiting for delivery by when
// they happened, so that the oldest can be dropped when too many wait
// (WEBHOOK_MAX_PENDING) or they are too old (WEBHOOK_MAX_AGE). Package tasks
// keeps it beside the event queue.
type EventIndex struct{ rdb redis.UniversalClient }

// NewEventIndex keeps the index in rdb.
func NewEventIndex(rdb redis.UniversalClient) *EventIndex { return &EventIndex{rdb: rdb} }

// Add indexes event id, which happened at. A repeated event keeps its
// first time, the one its task carries.
func (x *EventIndex) Add(ctx context.Context, id string, at time.Time) error {
	return x.rdb.ZAddNX(ctx, PendingEventsKey, redis.Z{Score: float64(at.UnixMilli()), Member: id}).Err()
}

// Remove forgets event id.
func (x *EventIndex) Remove(ctx context.Context, id string) error {
	return x.rdb.ZRem(ctx, PendingEventsKey, id).Err()
}

// CountBefore is how many of the events happened before t.
func (x *EventIndex) CountBefore(ctx context.Context, t time.Time) (int64, error) {
	return x.rdb.ZCount(ctx, PendingEventsKey, "-inf", "("+strconv.FormatInt(t.UnixMilli(), 10)).Result()
}

// Count is how many events are indexed.
func (x *EventIndex) Count(ctx context.Context) (int64, error) {
	return x.rdb.ZCard(ctx, PendingEventsKey).Result()
}

// Oldest are the n events that happened first.
func (x *EventIndex) Oldest(ctx context.Context, n int64) ([]string, error) {
	return x.rdb.ZRange(ctx, PendingEventsKey, 0, n-1).Result()
}
