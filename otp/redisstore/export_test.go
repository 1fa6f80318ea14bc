package redisstore

import "context"

// RollbackCreated is (*Store).rollbackCreated, for the tests of a start
// whose reply was lost.
func RollbackCreated(ctx context.Context, s *Store, tag, id string) error {
	return s.rollbackCreated(ctx, tag, id)
}
