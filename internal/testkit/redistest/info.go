package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// InfoField reads one field of an INFO section ("" when Redis does not
// answer or has no such field).
func InfoField(ctx context.Context, c redis.UniversalClient, section, field string) string {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// Stat reads a counter of INFO stats (total_reads_processed …), failing
// the test when there is none.
func Stat(t testing.TB, c redis.UniversalClient, field string) int {
	t.Helper()
	n, err := strconv.Atoi(InfoField(context.Background(), c, "stats", field))
	if err != nil {
		t.Fatalf("INFO stats %s: %v", field, err)
	}
	return n
}
