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

// CommandStat reads INFO commandstats for one command (lower case, as
// "evalsha"): its calls and the µs Redis spent in them, scripts' own
// commands included (0, 0 before its first call).
func CommandStat(ctx context.Context, c redis.UniversalClient, name string) (calls, usec float64) {
	line := InfoField(ctx, c, "commandstats", "cmdstat_"+name)
	for _, kv := range strings.Split(line, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "calls":
			calls = f
		case "usec":
			usec = f
		}
	}
	return calls, usec
}
