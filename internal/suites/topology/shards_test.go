package topology

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/proctest"
)

// commandCalls is the number of commands a node has run since its last
// CONFIG RESETSTAT, the cluster's own housekeeping left out.
func commandCalls(ctx context.Context, t testing.TB, n *redisNode) int64 {
	t.Helper()
	c := n.client()
	defer c.Close()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		switch cmd := strings.TrimPrefix(name, "cmdstat_"); {
		case cmd == "info", cmd == "ping", strings.HasPrefix(cmd, "cluster"), strings.HasPrefix(cmd, "config"),
			strings.HasPrefix(cmd, "command"):
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		v, _ := strconv.ParseInt(calls, 10, 64)
		total += v
	}
	return total
}

// TestQueueShardsSpreadLoad: under send load, with QUEUE_SHARDS=3 each of
// the 3 masters runs a share of the commands within ±25% of the mean
// (with one shard, the masters holding the queue and the limits run far
// more; BenchmarkQueueShardsSpreadLoad measures both).
func TestQueueShardsSpreadLoad(t *testing.T) {
	requireEnabled(t)
	nodes := startCluster(t)
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			worst, _ := spreadLoad(t, nodes, shards)
			if shards == 3 && worst > 0.25 {
				t.Errorf("a master is %.0f%% off the mean: the load is not spread", 100*worst)
			}
		})
	}
}

// BenchmarkQueueShardsSpreadLoad reports, for 1 and 3 shards on 3 masters,
// how far the busiest or idlest master is off the mean of commands, and
// the commands per send (its flow: the SMS included):
// OTPD_TOPOLOGY_TESTS=1 go test -run '^$' -bench QueueShards -benchtime 1x ./internal/suites/topology
func BenchmarkQueueShardsSpreadLoad(b *testing.B) {
	requireEnabled(b)
	nodes := startCluster(b)
	for _, shards := range []int{1, 3} {
		b.Run(fmt.Sprintf("%d shards", shards), func(b *testing.B) {
			var worst, perSend float64
			for range b.N {
				w, p := spreadLoad(b, nodes, shards)
				worst, perSend = worst+w, perSend+p
			}
			b.ReportMetric(100*worst/float64(b.N), "%-off-mean")
			b.ReportMetric(perSend/float64(b.N), "commands/send")
		})
	}
}

// spreadLoad sends 1,500 codes through a stack with QUEUE_SHARDS=shards on
// the cluster of nodes, waits for their SMS, and answers how far the
// farthest master is off the mean number of commands (0.25: 25%), and the
// commands per send.
func spreadLoad(t testing.TB, nodes []*redisNode, shards int) (worst, perSend float64) {
	ctx := context.Background()
	for _, n := range nodes {
		c := n.client()
		_ = c.FlushAll(ctx).Err()
		c.Close()
	}
	s := startStack(t, clusterURL(nodes), map[string]string{
		"QUEUE_SHARDS": strconv.Itoa(shards), "OTP_RESEND_COOLDOWN": "1s", "LOG_LEVEL": "warn",
		"API_KEY_SEND_LIMITS": "1000000/1s", "WORKER_CONCURRENCY": "100",
	})
	// The processes' start-up and first heartbeats are not load.
	time.Sleep(time.Second)
	for _, n := range nodes {
		c := n.client()
		_ = c.ConfigResetStat(ctx).Err()
		c.Close()
	}
	const sends = 1500
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > sends {
					return
				}
				status, _, err := s.call("POST", "/v1/verifications", map[string]string{"to": fmt.Sprintf("+1415%07d", 2000000+i)})
				if err != nil || status != 202 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d sends failed", failed.Load())
	}
	proctest.WaitFor(t, 60*time.Second, "every SMS", func() bool { return s.Fake.AcceptedCount() >= sends })
	var calls []int64
	var sum int64
	for _, n := range nodes {
		c := commandCalls(ctx, t, n)
		calls = append(calls, c)
		sum += c
	}
	mean := float64(sum) / float64(len(calls))
	var shares []string
	for _, c := range calls {
		dev := float64(c)/mean - 1
		shares = append(shares, fmt.Sprintf("%d (%+.0f%%)", c, 100*dev))
		worst = max(worst, dev, -dev)
	}
	t.Logf("QUEUE_SHARDS=%d, %d sends: commands per master %s; %.1f commands per send",
		shards, sends, strings.Join(shares, ", "), float64(sum)/sends)
	if testing.Verbose() {
		for i, n := range nodes {
			c := n.client()
			info, _ := c.Info(ctx, "commandstats").Result()
			c.Close()
			var top []string
			for _, line := range strings.Split(info, "\r\n") {
				if name, rest, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(name, "cmdstat_") {
					calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
					if v, _ := strconv.Atoi(calls); v > sends/10 {
						top = append(top, strings.TrimPrefix(name, "cmdstat_")+"="+calls)
					}
				}
			}
			t.Logf("master %d: %s", i, strings.Join(top, " "))
		}
	}
	return worst, float64(sum) / sends
}
