package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp/redisstore"
)

// SignupStats is Redis's work per complete signup (send, the worker's SMS,
// the check with the right code), worker included: INFO commandstats and
// the server's CPU read around a known number of signups, less an idle
// window of the same length (the worker's polling), divided by it.
// Commands that scripts run are counted as well as the EVALSHA that ran
// them (Redis 7 counts both); their µs are inside the EVALSHA's.
type SignupStats struct {
	Signups int                `json:"signups"`
	Calls   map[string]float64 `json:"calls_per_signup"`
	Usec    map[string]float64 `json:"usec_per_signup"` // commandstats usec
	// CPUus is used_cpu_user+sys per signup; TopLevelUs the µs of the
	// commands clients sent (not those scripts ran), from commandstats.
	CPUus      float64 `json:"redis_cpu_us_per_signup"`
	TopLevelUs float64 `json:"commandstats_us_per_signup"`
	// Reads are the server's reads of client input (total_reads_processed):
	// the round trips, a pipeline being one.
	Reads float64 `json:"reads_per_signup"`
	// Scripts splits the EVALSHA µs by script, from SLOWLOG in a second
	// run of as many signups (logging every command costs Redis CPU, so
	// not in the measured one): each script's calls and µs per signup.
	Scripts map[string]ScriptCost `json:"scripts_per_signup,omitempty"`
}

// ScriptCost is one script's share of a signup.
type ScriptCost struct {
	Calls float64 `json:"calls"`
	Usec  float64 `json:"usec"`
}

// scriptCalled are the commands only our scripts run (clients never send
// them), so their µs are already in an EVALSHA's. asynq's scripts run some
// of them too; its clients send none.
var scriptCalled = map[string]bool{
	"hmget": true, "hget": true, "hset": true, "hincrby": true, "hdel": true, "pexpire": true,
	"expire": true, "pexpireat": true, "time": true, "del": true, "exists": true, "hgetall": true,
	"xadd": true, "xtrim": true, "zadd": true, "zrem": true, "zrangebyscore": true, "lpush": true,
	"rpoplpush": true, "lrem": true, "lmove": true, "sadd": true, "srem": true, "set": true, "get": true,
	"incr": true, "incrby": true, "decr": true, "hsetnx": true, "zscore": true, "zcard": true,
	"smembers": true, "sismember": true, "setex": true, "psetex": true, "hexists": true, "hlen": true,
	"zremrangebyscore": true, "llen": true, "lrange": true, "ttl": true, "pttl": true, "type": true,
	"publish": true, "zincrby": true, "hmset": true, "expireat": true, "unlink": true, "lindex": true,
}

func (s *SignupStats) print(w io.Writer) {
	names := make([]string, 0, len(s.Calls))
	for k := range s.Calls {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "redis per signup (%d signups, worker included): cpu %.1f µs, top-level commandstats %.1f µs, %.2f reads (round trips)\n",
		s.Signups, s.CPUus, s.TopLevelUs, s.Reads)
	for _, k := range names {
		fmt.Fprintf(w, "  %-22s %6.2f calls %8.2f µs\n", k, s.Calls[k], s.Usec[k])
	}
	if len(s.Scripts) == 0 {
		return
	}
	names = names[:0]
	for k := range s.Scripts {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return s.Scripts[names[i]].Usec > s.Scripts[names[j]].Usec })
	fmt.Fprintf(w, "  EVALSHA by script (SLOWLOG, a second run of %d signups):\n", s.Signups)
	for _, k := range names {
		fmt.Fprintf(w, "    %-36s %6.2f calls %8.2f µs\n", k, s.Scripts[k].Calls, s.Scripts[k].Usec)
	}
}

// scriptCosts runs n more signups with every command in SLOWLOG and sums
// the EVALSHAs by script: ours by name, others (asynq's, redis_rate's) by
// the shape of their first key.
func scriptCosts(ctx context.Context, rdb *redis.Client, c *client, nums *numbers, fake *twiliofake.Server, n int, clientIP string) (map[string]ScriptCost, error) {
	// SLOWLOG times are wall time: a Redis that shares the cores with the
	// load is also timed while it waits for one, so the shares are the
	// figures to read, the CPU above the total.
	entries, err := redistest.Logged(ctx, rdb, n*200+10000, func() error {
		return signups(c, nums, fake, n, 16, clientIP)
	})
	if err != nil {
		return nil, err
	}
	ours := redisstore.ScriptNames()
	costs := map[string]ScriptCost{}
	for _, e := range entries {
		if len(e.Args) < 2 || !strings.EqualFold(e.Args[0], "evalsha") {
			continue
		}
		name, ok := ours[e.Args[1]]
		if !ok {
			name = "other " + e.Args[1][:7]
			if len(e.Args) > 3 {
				name += " " + keyShape(e.Args[3])
			}
		}
		sc := costs[name]
		sc.Calls++
		sc.Usec += float64(e.Duration.Microseconds())
		costs[name] = sc
	}
	for k, v := range costs {
		costs[k] = ScriptCost{Calls: v.Calls / float64(n), Usec: v.Usec / float64(n)}
	}
	return costs, nil
}

var plainSegment = regexp.MustCompile(`^[a-z]+$`)

// keyShape is a key with its hash tag and ids blanked (every segment but
// plain words): which script of another library ran.
func keyShape(k string) string {
	parts := strings.Split(k, ":")
	for i, p := range parts {
		if !plainSegment.MatchString(p) {
			parts[i] = "…"
		}
	}
	return strings.Join(parts, ":")
}

// countSignup runs n complete signups, 16 at a time, between two reads
// of INFO commandstats, cpu and stats; their checks carry clientIP.
func countSignup(ctx context.Context, rdb *redis.Client, c *client, nums *numbers, fake *twiliofake.Server, n int, clientIP string) (*SignupStats, error) {
	// Warm the scripts and connections.
	if err := signups(c, nums, fake, 16, 16, clientIP); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)
	const idleFor = time.Second
	idleCalls, idleUsec := redistest.CommandStats(ctx, rdb)
	idleCPU, idleReads := redistest.CPU(ctx, rdb), redisReads(ctx, rdb)
	time.Sleep(idleFor)
	idleCalls2, idleUsec2 := redistest.CommandStats(ctx, rdb)
	idleCPU2, idleReads2 := redistest.CPU(ctx, rdb), redisReads(ctx, rdb)

	calls0, usec0 := redistest.CommandStats(ctx, rdb)
	cpu0, reads0, t0 := redistest.CPU(ctx, rdb), redisReads(ctx, rdb), time.Now()
	if err := signups(c, nums, fake, n, 16, clientIP); err != nil {
		return nil, err
	}
	calls1, usec1 := redistest.CommandStats(ctx, rdb)
	cpu1, reads1 := redistest.CPU(ctx, rdb), redisReads(ctx, rdb)
	scale := float64(time.Since(t0)) / float64(idleFor)
	st := &SignupStats{Signups: n, Calls: map[string]float64{}, Usec: map[string]float64{}}
	// Each snapshot is three INFO reads of ours, counted in the next.
	st.Reads = ((reads1 - reads0 - 3) - (idleReads2-idleReads-3)*scale) / float64(n)
	for k, v := range calls1 {
		if k == "info" {
			continue
		}
		d := float64(v-calls0[k]) - float64(idleCalls2[k]-idleCalls[k])*scale
		u := float64(usec1[k]-usec0[k]) - float64(idleUsec2[k]-idleUsec[k])*scale
		if d/float64(n) >= 0.005 {
			st.Calls[k] = d / float64(n)
			st.Usec[k] = max(0, u/float64(n))
			if !scriptCalled[k] {
				st.TopLevelUs += st.Usec[k]
			}
		}
	}
	st.CPUus = ((cpu1 - cpu0) - (idleCPU2-idleCPU)*scale) / float64(n) * 1e6
	return st, nil
}

// signups runs n signups on conns goroutines; any failure is an error.
func signups(c *client, nums *numbers, fake *twiliofake.Server, n, conns int, clientIP string) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				to := nums.next()
				sms, _, st, err := sendAwaitingSMS(c, fake, to)
				if err == nil && st == 202 {
					var body map[string]any
					req := map[string]string{"to": to, "code": twiliofake.CodeIn(sms.Form.Get("Body"))}
					if clientIP != "" {
						req["clientIp"] = clientIP
					}
					st, body, err = c.post("/v1/verifications/check", req)
					if err == nil && st == 200 && body["valid"] != true {
						err = fmt.Errorf("signup: code not valid")
					}
				}
				if err == nil && st != 200 {
					err = fmt.Errorf("signup: status %d", st)
				}
				if err != nil {
					mu.Lock()
					first = firstErr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// redisReads is the server's total_reads_processed: reads of client input.
func redisReads(ctx context.Context, rdb *redis.Client) float64 {
	f, _ := strconv.ParseFloat(redistest.InfoField(ctx, rdb, "stats", "total_reads_processed"), 64)
	return f
}
