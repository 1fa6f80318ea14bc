package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
)

const masterName = "mymaster"

// sentinelSetup is a master, one replica and three sentinels (quorum 2).
type sentinelSetup struct {
	master, replica *redisNode
	sentinels       []*redisNode
}

func startSentinels(t testing.TB) *sentinelSetup {
	t.Helper()
	ctx := context.Background()
	s := &sentinelSetup{}
	s.master = startRedis(t, "redis-master", func(port int, dir string) []string {
		return serverArgs(port, dir, "--repl-diskless-sync-delay", "0")
	})
	_, mport, _ := net.SplitHostPort(s.master.addr)
	s.replica = startRedis(t, "redis-replica", func(port int, dir string) []string {
		return serverArgs(port, dir, "--replicaof", "127.0.0.1", mport, "--repl-diskless-sync-delay", "0")
	})
	rc := s.replica.client()
	defer rc.Close()
	proctest.WaitFor(t, 10*time.Second, "the replica to sync", func() bool {
		return redistest.InfoField(ctx, rc, "replication", "master_link_status") == "up"
	})
	for i := 0; i < 3; i++ {
		s.sentinels = append(s.sentinels, startRedis(t, fmt.Sprintf("sentinel-%d", i), func(port int, dir string) []string {
			// Sentinel rewrites its config file: it must be writable.
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s 127.0.0.1 %s 2\n"+
				"sentinel down-after-milliseconds %[3]s 1000\n"+
				"sentinel failover-timeout %[3]s 5000\n", port, dir, masterName, mport)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		}))
	}
	// A failover needs every sentinel to know the replica and the other
	// sentinels (they find each other through the master every 2 s).
	proctest.WaitFor(t, 20*time.Second, "the sentinels to discover each other and the replica", func() bool {
		for _, sn := range s.sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: sn.addr, MaxRetries: -1})
			peers, err1 := c.Sentinels(ctx, masterName).Result()
			replicas, err2 := c.Replicas(ctx, masterName).Result()
			c.Close()
			if err1 != nil || err2 != nil || len(peers) != 2 || len(replicas) != 1 || replicas[0]["flags"] != "slave" {
				return false
			}
		}
		return true
	})
	return s
}

func (s *sentinelSetup) url() string {
	var addrs []string
	for _, sn := range s.sentinels {
		addrs = append(addrs, sn.addr)
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + masterName
}

// named reports whether any sentinel names addr as the master (the one
// that led the failover knows first, the others learn it within ~1 s).
func (s *sentinelSetup) named(ctx context.Context, addr string) bool {
	for _, sn := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.addr, MaxRetries: -1})
		a, err := c.GetMasterAddrByName(ctx, masterName).Result()
		c.Close()
		if err == nil && len(a) == 2 && net.JoinHostPort(a[0], a[1]) == addr {
			return true
		}
	}
	return false
}

// attempt is one send of the load that runs across the failover.
type attempt struct {
	start  time.Time
	at     time.Duration // start since the master was killed (negative: before)
	took   time.Duration
	to     string
	status int
	err    error
	id     string
}

func (a attempt) ok() bool { return a.err == nil && a.status == 202 }

func (a attempt) String() string {
	if a.err != nil {
		return fmt.Sprintf("%+.2fs %s: %v", a.at.Seconds(), a.to, a.err)
	}
	return fmt.Sprintf("%+.2fs %s: %d (%s)", a.at.Seconds(), a.to, a.status, a.took.Round(time.Millisecond))
}

// TestSentinelFailover runs the api and worker against a Sentinel-managed
// master, kills the master (SIGKILL) under a send every 200 ms, and checks
// that sends recover once Sentinel has promoted the replica, that what was
// replicated survives, and that every later send is delivered.
func TestSentinelFailover(t *testing.T) {
	requireEnabled(t)
	failover(t)
}

// BenchmarkSentinelFailover measures what TestSentinelFailover checks:
// per failover (down-after 1s), the sends refused, the time from the kill
// to the first send accepted after the outage, and the accepted sends
// that the failover lost (asynchronous replication). About 15 s a run:
// OTPD_TOPOLOGY_TESTS=1 go test -run '^$' -bench SentinelFailover -benchtime 3x ./internal/suites/topology
func BenchmarkSentinelFailover(b *testing.B) {
	requireEnabled(b)
	var sum failoverFigures
	for range b.N {
		f := failover(b)
		sum.failed += f.failed
		sum.recovered += f.recovered
		sum.lost += f.lost
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.failed)/n, "sends-refused")
	b.ReportMetric(sum.recovered.Seconds()/n, "s-to-recovery")
	b.ReportMetric(float64(sum.lost)/n, "accepted-lost")
}

// failoverFigures are what one failover cost.
type failoverFigures struct {
	failed    int           // sends refused (503) or unanswered
	recovered time.Duration // from the kill to the first send accepted after the outage
	lost      int           // sends accepted, and gone after the failover
}

// failover kills a Sentinel-managed master under load and checks what
// TestSentinelFailover says; it answers what the failover cost.
func failover(t testing.TB) failoverFigures {
	ctx := context.Background()
	setup := startSentinels(t)
	s := startStack(t, setup.url(), map[string]string{"OTP_RESEND_COOLDOWN": "1s"})

	// Before the failover: verifications whose codes are checked after it.
	before := []string{"+14155550101", "+14155550102", "+14155550103"}
	ids := map[string]string{}
	for _, n := range before {
		status, v := s.mustCall(t, "POST", "/v1/verifications", map[string]string{"to": n})
		if status != 202 {
			t.Fatalf("send to %s: %d %v", n, status, v)
		}
		ids[n] = v["id"].(string)
	}
	codes := s.codes(t, 20*time.Second, before...)
	// Everything so far is on the replica, so none of it may be lost.
	mc := setup.master.client()
	acked, err := mc.Do(ctx, "WAIT", 1, 2000).Int()
	mc.Close()
	if err != nil || acked != 1 {
		t.Fatalf("WAIT 1 2000: %d %v", acked, err)
	}

	// Load: one send every 200 ms, to a new number each time.
	var (
		mu       sync.Mutex
		attempts []attempt
		stop     = make(chan struct{})
		stopped  = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			to := fmt.Sprintf("+1415556%04d", i)
			t0 := time.Now()
			status, v, err := s.call("POST", "/v1/verifications", map[string]string{"to": to})
			a := attempt{start: t0, to: to, status: status, err: err, took: time.Since(t0)}
			if id, ok := v["id"].(string); ok && status == 202 {
				a.id = id
			}
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	stopLoad := func() []attempt {
		close(stop)
		<-stopped
		return attempts
	}

	time.Sleep(time.Second)
	oldMaster := setup.master.addr
	killAt := time.Now()
	setup.master.Kill()
	t.Logf("killed the master %s (SIGKILL)", oldMaster)

	// Sentinel's view: when does it name the replica as the master?
	var promoted time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		if setup.named(ctx, setup.replica.addr) {
			promoted = time.Since(killAt)
			break
		}
		if time.Now().After(deadline) {
			stopLoad()
			t.Fatalf("sentinel did not promote the replica within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Keep sending until 10 sends in a row succeed after the promotion.
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := 0
		for i := len(attempts) - 1; i >= 0 && attempts[i].ok() && attempts[i].start.Sub(killAt) > promoted; i-- {
			n++
		}
		mu.Unlock()
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	attempts = stopLoad()
	for i := range attempts {
		attempts[i].at = attempts[i].start.Sub(killAt)
	}

	// The numbers.
	var failed []attempt
	var firstFail, lastFail time.Duration
	recovered := time.Duration(-1)
	for _, a := range attempts {
		if a.ok() {
			if len(failed) > 0 && recovered < 0 && a.at > lastFail {
				recovered = a.at
			}
			continue
		}
		if len(failed) == 0 {
			firstFail = a.at
		}
		failed = append(failed, a)
		lastFail = a.at
		recovered = -1
	}
	var lines []string
	for _, a := range attempts {
		lines = append(lines, a.String())
	}
	t.Logf("sends across the failover (time relative to the kill):\n  %s", strings.Join(lines, "\n  "))
	t.Logf("FAILOVER: %d sends, %d failed; first failure %+.2fs, last failure %+.2fs after the kill; "+
		"a sentinel named the replica master at +%.2fs; first success after the outage at +%.2fs",
		len(attempts), len(failed), firstFail.Seconds(), lastFail.Seconds(), promoted.Seconds(), recovered.Seconds())
	statuses := map[string]int{}
	for _, a := range failed {
		if a.err != nil {
			statuses["transport error"]++
		} else {
			statuses[fmt.Sprint(a.status)]++
		}
		if a.at+a.took < 0 { // over before the kill (one in flight at the kill may fail)
			t.Errorf("a send failed before the master was killed: %v", a)
		}
	}
	t.Logf("failed sends by outcome: %v", statuses)
	for _, p := range []*proctest.Proc{s.API, s.Worker} {
		t.Logf("%s logged during the failover: %s", p.Name, summarizeLog(p.Output()))
	}

	tail := 0
	for i := len(attempts) - 1; i >= 0 && attempts[i].ok(); i-- {
		tail++
	}
	if tail < 10 {
		t.Fatalf("sends did not recover: only the last %d succeeded", tail)
	}
	if recovered > 20*time.Second {
		t.Errorf("outage of %s, want under 20 s", recovered)
	}
	rc := setup.replica.client()
	role := redistest.InfoField(ctx, rc, "replication", "role")
	rc.Close()
	if role != "master" {
		t.Errorf("replica's role is %q after the failover", role)
	}

	// Every send accepted after the outage is delivered by the worker,
	// which found the new master on its own.
	var after []string
	lost := 0
	for _, a := range attempts {
		if a.ok() && a.at > lastFail {
			after = append(after, a.to)
		}
	}
	s.codes(t, 20*time.Second, after...)

	// Sends accepted just before the kill may not have reached the replica
	// (replication is asynchronous): count the ones lost.
	for _, a := range attempts {
		if !a.ok() || a.at > lastFail {
			continue
		}
		status, _, err := s.call("GET", "/v1/verifications/"+a.id, nil)
		if err != nil || status != 200 {
			lost++
			t.Logf("accepted before/during the failover and lost: %v (GET: %d %v)", a, status, err)
		}
	}
	t.Logf("accepted sends lost by the failover (asynchronous replication): %d", lost)
	figures := failoverFigures{failed: len(failed), recovered: recovered, lost: lost}

	// The verifications replicated before the failover survive it: their
	// codes still approve.
	for _, n := range before {
		status, v := s.mustCall(t, "POST", "/v1/verifications/check", map[string]string{"to": n, "code": codes[n]})
		if status != 200 || v["valid"] != true {
			t.Errorf("check %s after the failover: %d %v", n, status, v)
		}
		if status, v := s.mustCall(t, "GET", "/v1/verifications/"+ids[n], nil); status != 200 || v["status"] != "approved" {
			t.Errorf("get %s after the failover: %d %v", n, status, v)
		}
	}
	return figures
}

// summarizeLog counts a JSON log's warnings and errors by message.
func summarizeLog(out string) string {
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(out, "\n") {
		var rec struct {
			Level, Msg, Err string
		}
		if json.Unmarshal([]byte(line), &rec) != nil || (rec.Level != "WARN" && rec.Level != "ERROR") {
			continue
		}
		k := rec.Level + " " + rec.Msg
		if rec.Err != "" {
			k += ": " + rec.Err
		}
		if len(k) > 160 {
			k = k[:160] + "…"
		}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	if len(order) == 0 {
		return "no warnings or errors"
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "\n  %dx %s", counts[k], k)
	}
	return b.String()
}
