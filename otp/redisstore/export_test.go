package redisstore

import "context"

// RollbackCreated is (*Store).rollbackCreated, for the tests of a start
// whose reply was lost.
func RollbackCreated(ctx context.Context, s *Store, tag, id string) error {
	return s.rollbackCreated(ctx, tag, id)
}

// SplitChecks makes s check as on a Redis Cluster (TakeCheck, check.lua,
// refund.lua), so both ways are tested on one Redis.
func SplitChecks(s *Store) { s.cluster.Store(true) }
