package topology

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
)

// startCluster starts three cluster-enabled redis-servers and makes them a
// cluster of three masters (no replicas). It skips the test when
// redis-cli or cluster support is missing.
func startCluster(t testing.TB) []*redisNode {
	t.Helper()
	proctest.Need(t, "redis-cli", "apt-get install redis-tools")
	major := redisMajor(t)
	if major < 5 {
		proctest.Lack(t, fmt.Sprintf("redis-server %d.x: redis-cli --cluster needs 5 or later", major))
	}
	var nodes []*redisNode
	for i := 0; i < 3; i++ {
		n := startRedis(t, fmt.Sprintf("redis-cluster-%d", i), func(port int, dir string) []string {
			args := []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "5000"}
			if major >= 7 {
				// The bus port is port+10000 unless set: it may be taken, or
				// above 65535 for an ephemeral port.
				args = append(args, "--cluster-port", strconv.Itoa(proctest.FreePort(t)))
			}
			return serverArgs(port, dir, args...)
		})
		c := n.client()
		enabled := redistest.InfoField(context.Background(), c, "cluster", "cluster_enabled")
		c.Close()
		if enabled != "1" {
			proctest.Lack(t, fmt.Sprintf("redis-server has no cluster support (cluster_enabled:%q)", enabled))
		}
		nodes = append(nodes, n)
	}
	args := []string{"--cluster", "create"}
	for _, n := range nodes {
		args = append(args, n.addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	proctest.WaitFor(t, 20*time.Second, "cluster_state:ok on every node", func() bool {
		for _, n := range nodes {
			c := n.client()
			info, _ := c.ClusterInfo(context.Background()).Result()
			c.Close()
			ok := strings.Contains(info, "cluster_state:ok\r\n") &&
				strings.Contains(info, "cluster_known_nodes:3\r\n") &&
				strings.Contains(info, "cluster_slots_ok:16384\r\n")
			if !ok {
				return false
			}
		}
		return true
	})
	return nodes
}

func redisMajor(t testing.TB) int {
	out, err := exec.Command(proctest.Need(t, "redis-server", "apt-get install redis-server"), "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v", err)
	}
	m := regexp.MustCompile(`v=(\d+)\.`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read the version of redis-server: %q", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func clusterURL(nodes []*redisNode) string {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// scanCount counts the keys matching pattern on one node.
func scanCount(ctx context.Context, c *redis.Client, pattern string) int {
	n := 0
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n
}

// TestClusterFlow runs the api and worker against a 3-master Redis Cluster:
// sends to numbers spread over the masters, SMS delivered, checks, the
// resend cooldown, a read, the per-IP limit's redis_rate keys.
func TestClusterFlow(t *testing.T) {
	requireEnabled(t)
	start := time.Now()
	nodes := startCluster(t)
	t.Logf("cluster of 3 masters up in %s", time.Since(start).Round(time.Millisecond))
	s := startStack(t, clusterURL(nodes), map[string]string{
		"OTP_RESEND_COOLDOWN": "30s",
		// Exercise every limiter's keys: the worker's SMS rate (redis_rate)
		// and the global and per-country budgets.
		"SMS_RATE_LIMIT": "1000", "SMS_BUDGET_PER_MINUTE": "1000", "SMS_COUNTRY_BUDGETS": "US=500,*=10",
	})

	var numbers []string
	ids := map[string]string{}
	for i := 0; i < 8; i++ {
		n := fmt.Sprintf("+1415555%04d", 2100+i)
		body := map[string]string{"to": n}
		if i == 0 {
			body["clientIp"] = "203.0.113.7" // exercises the per-IP redis_rate keys
		}
		status, v := s.mustCall(t, "POST", "/v1/verifications", body)
		if status != 202 || v["status"] != "pending" || v["to"] != n {
			t.Fatalf("send to %s: %d %v", n, status, v)
		}
		numbers = append(numbers, n)
		ids[n] = v["id"].(string)
	}
	codes := s.codes(t, 20*time.Second, numbers...)

	// A resend inside OTP_RESEND_COOLDOWN is refused.
	if status, v := s.mustCall(t, "POST", "/v1/verifications", map[string]string{"to": numbers[1]}); status != 429 {
		t.Fatalf("resend inside the cooldown: %d %v", status, v)
	}
	// A wrong code is counted, not approved.
	wrong := "000000"
	if codes[numbers[2]] == wrong {
		wrong = "111111"
	}
	if status, v := s.mustCall(t, "POST", "/v1/verifications/check", map[string]string{"to": numbers[2], "code": wrong}); status != 200 || v["valid"] != false {
		t.Fatalf("wrong code: %d %v", status, v)
	}
	// Every right code approves, by number or by id (the by-id script
	// derives the number's keys from the hash tag inside Lua).
	for i, n := range numbers {
		body := map[string]string{"to": n, "code": codes[n]}
		if i%2 == 1 {
			body = map[string]string{"id": ids[n], "code": codes[n]}
		}
		if i == 0 {
			body["clientIp"] = "203.0.113.7"
		}
		status, v := s.mustCall(t, "POST", "/v1/verifications/check", body)
		if status != 200 || v["valid"] != true || v["status"] != "approved" {
			t.Fatalf("check %s: %d %v", n, status, v)
		}
	}
	status, v := s.mustCall(t, "GET", "/v1/verifications/"+ids[numbers[3]], nil)
	if status != 200 || v["status"] != "approved" || v["to"] != numbers[3] {
		t.Fatalf("get: %d %v", status, v)
	}
	if n := len(s.Fake.Requests()); n != len(numbers) {
		t.Errorf("twilio got %d requests for %d sends", n, len(numbers))
	}

	// The keys really are spread over the masters.
	ctx := context.Background()
	withOTP, rateIP := 0, 0
	var sizes []string
	for _, n := range nodes {
		c := n.client()
		size, err := c.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		otpKeys := scanCount(ctx, c, "otp:{*")
		if otpKeys > 0 {
			withOTP++
		}
		// The send limits share the hash tag {otp:limits}.
		rateIP += scanCount(ctx, c, "lim:{otp:limits}:ip:*")
		sizes = append(sizes, fmt.Sprintf("%s: dbsize %d (otp:{…} %d, asynq %d, rate %d)", n.addr, size, otpKeys,
			scanCount(ctx, c, "asynq:*"), scanCount(ctx, c, "lim:*")))
		c.Close()
	}
	t.Logf("keys per master:\n  %s", strings.Join(sizes, "\n  "))
	if withOTP < 2 {
		t.Errorf("verification keys on %d master(s), want them spread over at least 2", withOTP)
	}
	if rateIP == 0 {
		t.Errorf("no rate-limit key for the client IP on any master")
	}
	for _, p := range []*proctest.Proc{s.API, s.Worker} {
		if out := p.Output(); strings.Contains(out, "CROSSSLOT") || strings.Contains(out, "MOVED") || strings.Contains(out, "non local key") {
			t.Errorf("%s logged a cluster error:\n%s", p.Name, proctest.Tail(out, 3000))
		}
	}
}

// TestClusterClientFollowsRedirects checks that the client redisconn.New
// builds (MaxRetries -1, commands never re-sent) still follows ASK and
// MOVED, for plain commands and for scripts: a slot is migrated between
// masters under a client that knows the old owner.
func TestClusterClientFollowsRedirects(t *testing.T) {
	requireEnabled(t)
	nodes := startCluster(t)
	ctx := context.Background()
	uc, err := redisconn.New(clusterURL(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	cc := uc.(*redis.ClusterClient)

	const key = "{redirect-test}:k"
	if err := cc.Get(ctx, key).Err(); err != redis.Nil { // loads the slot map
		t.Fatalf("get: %v", err)
	}
	direct := map[string]*redis.Client{}
	ids := map[string]string{}
	for _, n := range nodes {
		c := n.client()
		defer c.Close()
		direct[n.addr] = c
		ids[n.addr] = c.ClusterMyID(ctx).Val()
	}
	slot := int(direct[nodes[0].addr].ClusterKeySlot(ctx, key).Val())
	owner, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	src := owner.Options().Addr
	var dst string
	for _, n := range nodes {
		if n.addr != src {
			dst = n.addr
			break
		}
	}
	stat := func(addr, name string) int {
		v := redistest.InfoField(ctx, direct[addr], "errorstats", "errorstat_"+name)
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(v, ",")[0], "count="))
		return n
	}
	setslot := func(addr string, args ...any) {
		t.Helper()
		if err := direct[addr].Do(ctx, append([]any{"cluster", "setslot", slot}, args...)...).Err(); err != nil {
			t.Fatalf("cluster setslot %d %v on %s: %v", slot, args, addr, err)
		}
	}

	// Migrating: the old owner answers ASK for a key it does not have.
	setslot(dst, "importing", ids[src])
	setslot(src, "migrating", ids[dst])
	asks := stat(src, "ASK")
	if err := cc.Set(ctx, key, "v1", 0).Err(); err != nil {
		t.Fatalf("set during migration: %v", err)
	}
	if stat(src, "ASK") != asks+1 {
		t.Errorf("no ASK redirect seen on %s", src)
	}
	if n := direct[dst].ClusterCountKeysInSlot(ctx, slot).Val(); n != 1 {
		t.Fatalf("key not on the importing node: %d keys in slot %d", n, slot)
	}

	// Migrated: the client's slot map is stale and the old owner answers MOVED.
	setslot(dst, "node", ids[dst])
	setslot(src, "node", ids[dst])
	for _, n := range nodes {
		if n.addr != src && n.addr != dst {
			setslot(n.addr, "node", ids[dst])
		}
	}
	moved := stat(src, "MOVED")
	// A script first (EVALSHA, then EVAL on the new owner's NOSCRIPT),
	// while the client still maps the slot to the old owner.
	incr := redis.NewScript(`return redis.call('INCR', KEYS[1])`)
	if n, err := incr.Run(ctx, cc, []string{"{redirect-test}:n"}).Int(); err != nil || n != 1 {
		t.Fatalf("script after migration: %d %v", n, err)
	}
	if n, _ := direct[dst].Get(ctx, "{redirect-test}:n").Int(); n != 1 {
		t.Fatalf("script ran %d times", n)
	}
	if got, err := cc.Get(ctx, key).Result(); err != nil || got != "v1" {
		t.Fatalf("get after migration: %q %v", got, err)
	}
	t.Logf("slot %d moved %s -> %s: ASK +%d, MOVED +%d on the old owner", slot, src, dst,
		stat(src, "ASK")-asks, stat(src, "MOVED")-moved)
	if stat(src, "MOVED") == moved {
		t.Errorf("no MOVED redirect seen on %s (the client found the new owner by itself)", src)
	}
}
