package redistest

import (
	"context"
	"regexp"
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

// cmdstat is one command's line of INFO commandstats.
var cmdstat = regexp.MustCompile(`cmdstat_([a-z|_-]+):calls=(\d+),usec=(\d+)`)

// CommandStats reads INFO commandstats: each command's calls and the µs
// Redis spent in them (a script's own commands are counted both in it and
// on their own), by command name in lower case ("evalsha"); empty maps
// when Redis does not answer.
func CommandStats(ctx context.Context, c redis.UniversalClient) (calls, usec map[string]int64) {
	v, _ := c.Info(ctx, "commandstats").Result()
	calls, usec = map[string]int64{}, map[string]int64{}
	for _, m := range cmdstat.FindAllStringSubmatch(v, -1) {
		calls[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
		usec[m[1]], _ = strconv.ParseInt(m[3], 10, 64)
	}
	return calls, usec
}
