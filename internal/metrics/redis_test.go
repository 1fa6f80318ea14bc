package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/testkit/redistest"
)

// Up while Redis answers, down when it does not; scrapes in a burst cost
// Redis one PING.
func TestRedisHealth(t *testing.T) {
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	metrics.NewRedis(reg, rdb)
	want := "# HELP otp_redis_up 1 when Redis answered a PING within 500 ms at this scrape, else 0.\n# TYPE otp_redis_up gauge\notp_redis_up %s\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "%s", "1", 1)), "otp_redis_up"); err != nil {
		t.Fatal(err)
	}
	before := rdb.InfoMap(t.Context(), "commandstats").Item("Commandstats", "cmdstat_ping")
	for range 20 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	after := rdb.InfoMap(t.Context(), "commandstats").Item("Commandstats", "cmdstat_ping")
	if before != after {
		t.Fatalf("20 scrapes in a burst PINGed Redis again: %q then %q", before, after)
	}

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	reg = prometheus.NewRegistry()
	metrics.NewRedis(reg, down)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "%s", "0", 1)), "otp_redis_up"); err != nil {
		t.Fatal(err)
	}
}
