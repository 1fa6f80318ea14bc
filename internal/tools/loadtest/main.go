// Command loadtest is `make bench`: it starts a throw-away Redis, the fake
// Twilio with a realistic latency, and the real api and worker binaries in
// production configuration, then drives closed-loop load over keep-alive
// connections and reports throughput, latency, errors, worker delivery,
// Redis memory per verification and API CPU, next to redis-benchmark run in
// the same session so results compare across machines. It also drives the
// ceiling server (internal/tools/ceiling: Gin and one EVALSHA, nothing
// else) the same way, and reports the api's CPU and Redis's CPU per request
// as ratios to it. Everything stays on 127.0.0.1. It is not part of the
// production binaries.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/tasks"
)

const (
	sid    = "AC0123456789abcdef0123456789abcdef"
	token  = "benchtoken0123456789"
	apiKey = "bench-key-0123456789abcdef"
)

type options struct {
	duration, warmup, twilioLatency time.Duration
	conns, workerConcurrency        int
	scenarios, out, bins            string
	memCount                        int
	profile                         string
	// Open loop: after each closed-loop send and check scenario, the same
	// requests at a fixed rate, openFraction of what the closed loop
	// reached (or rate, when set).
	openFraction, rate float64
	// pauseWorker pauses the SMS queue during the scenarios, to tell the
	// api's own latency from its contention with the worker for the CPU.
	pauseWorker bool
	// extraEnv is added to both processes' environment (e.g. GOGC=400).
	extraEnv string
	// queues are the send queues: QUEUE_SHARDS of them (-queue-shards).
	queueShards int
	queues      []string
	// signups is how many complete signups the per-signup Redis table
	// divides by.
	signups  int
	clientIP string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	flag.DurationVar(&o.twilioLatency, "twilio-latency", 150*time.Millisecond, "latency of the fake Twilio")
	flag.IntVar(&o.conns, "conns", 64, "keep-alive connections (closed loop: one request in flight each)")
	flag.IntVar(&o.workerConcurrency, "worker-concurrency", 100, "WORKER_CONCURRENCY of the worker")
	flag.StringVar(&o.scenarios, "scenarios", "ceiling,send,check,flow", "scenarios to run, in order (ceiling: the minimal Gin + one EVALSHA server, the denominator of the ratios)")
	flag.StringVar(&o.out, "out", "bench-result.json", "machine-readable summary")
	flag.StringVar(&o.bins, "bin", "", "directory with api, worker and ceiling binaries (default: build them; a missing ceiling is built)")
	flag.IntVar(&o.memCount, "mem-verifications", 20000, "verifications created to measure Redis memory")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of the api and the worker during each scenario to PREFIX-<scenario>.pprof and PREFIX-<scenario>-worker.pprof")
	flag.Float64Var(&o.openFraction, "open-loop", 0.5, "after the closed-loop send and check, run them open loop at this fraction of the closed-loop rate (0: not)")
	flag.Float64Var(&o.rate, "rate", 0, "open-loop rate in requests/s, instead of -open-loop's fraction")
	flag.BoolVar(&o.pauseWorker, "pause-worker", false, "pause the SMS queue during the scenarios (the api alone on the CPU)")
	flag.StringVar(&o.extraEnv, "env", "", "comma-separated KEY=VALUE added to the api's and the worker's environment")
	flag.IntVar(&o.queueShards, "queue-shards", 1, "QUEUE_SHARDS of the api and the worker")
	flag.StringVar(&o.clientIP, "client-ip", "", "clientIp of the per-signup table's checks (its failed-check budget is then taken with the write limit; the right codes give it back)")
	flag.IntVar(&o.signups, "signups", 300, "complete signups (send, SMS, check) around which INFO commandstats and Redis CPU are read, for the per-signup table (0: not)")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// Result of one scenario.
type Result struct {
	Name string `json:"name"`
	// Mode is closed (each connection sends its next request when the last
	// is answered) or open (requests start on a fixed schedule, TargetRPS,
	// whatever the answers: latency counts from the scheduled start, so a
	// stall shows in full instead of slowing the load).
	Mode        string         `json:"mode"`
	TargetRPS   float64        `json:"target_rps,omitempty"`
	Requests    int            `json:"requests"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	Errors      map[string]int `json:"errors"`
	APICPUPer1k float64        `json:"api_cpu_seconds_per_1000"`
	// The worker's and Redis's CPU over the whole scenario (its warm-up and
	// the SMS it caused included) per 1,000 requests measured: for sizing.
	WorkerCPUPer1k float64 `json:"worker_cpu_seconds_per_1000,omitempty"`
	RedisCPUPer1k  float64 `json:"redis_cpu_seconds_per_1000,omitempty"`
	RatioSET       float64 `json:"ratio_of_redis_set"`
	SMSPerSec      float64 `json:"sms_accepted_per_sec,omitempty"`
	SendToSMSP50   float64 `json:"send_to_sms_p50_ms,omitempty"`
	SendToSMSP99   float64 `json:"send_to_sms_p99_ms,omitempty"`
}

// Summary is the JSON file.
type Summary struct {
	Machine         string              `json:"machine"`
	Conns           int                 `json:"conns"`
	TwilioLatencyMs int64               `json:"twilio_latency_ms"`
	RedisSETRPS     float64             `json:"redis_benchmark_set_rps"`
	RedisEVALSHARPS float64             `json:"redis_benchmark_evalsha_rps"`
	Scenarios       []Result            `json:"scenarios"`
	RedisCallsSend  map[string]int64    `json:"redis_commands_per_send"`
	RedisCallsCheck map[string]int64    `json:"redis_commands_per_check"`
	Signup          *SignupStats        `json:"redis_per_signup,omitempty"`
	BytesPending    float64             `json:"redis_bytes_per_pending_verification"`
	BytesQueued     float64             `json:"redis_bytes_per_queued_verification"`
	KeysPending     map[string][2]int64 `json:"redis_keys_after_memory_test"` // kind: {count, MEMORY USAGE bytes}
	SampleFields    map[string]int      `json:"pending_verification_fields"`  // field: value length
	Worker          map[string]any      `json:"worker"`
	Ceiling         *Ceiling            `json:"ceiling,omitempty"`
	Notes           []string            `json:"notes"`
}

// Ceiling is the minimal server's closed-loop figures, and the api's
// closed-loop send and check as ratios to them: CPU per request of the
// process over the ceiling's, and Redis CPU per request over the Redis CPU
// per request the ceiling caused. A ratio of 3 means otpd's request costs
// three times the floor of one Gin request and one Redis script on this
// machine. Redis's CPU for a send includes the worker's Redis work for the
// SMS it caused; the worker's idle polling is in all three.
type Ceiling struct {
	RPS             float64 `json:"rps"`
	CPUusPerReq     float64 `json:"cpu_us_per_request"`
	RedisCPUusPerRq float64 `json:"redis_cpu_us_per_request"`
	APISendRatio    float64 `json:"api_send_cpu_ratio,omitempty"`
	APICheckRatio   float64 `json:"api_check_cpu_ratio,omitempty"`
	RedisSendRatio  float64 `json:"redis_send_cpu_ratio,omitempty"`
	RedisCheckRatio float64 `json:"redis_check_cpu_ratio,omitempty"`
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	rs, err := redistest.Start()
	if err != nil {
		return err
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Forget()
	fake.SetLatency(o.twilioLatency)

	bins := o.bins
	if bins == "" {
		dir, err := proctest.Build(false, "api", "worker")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bins = dir
	}

	addr, err := proctest.NewAddr()
	if err != nil {
		return err
	}
	vars := proctest.ProductionEnv(rs.URL(), addr, fake)
	for k, v := range map[string]string{
		"API_KEYS": apiKey, "LOG_LEVEL": "warn", "ALLOWED_COUNTRIES": "US",
		"WORKER_CONCURRENCY": strconv.Itoa(o.workerConcurrency), "QUEUE_SHARDS": strconv.Itoa(o.queueShards),
		// Limits raised so they do not throttle the load; they still run.
		"OTP_MAX_CHECKS": "100", "FAILED_CHECK_LIMIT": "100/24h", "TO_SEND_LIMIT": "1000/1h",
		"SMS_BUDGET_PER_MINUTE": "10000000", "OTP_BRAND": "Bench",
		"API_KEY_SEND_LIMITS": "10000000/1s", "PREFIX_SEND_LIMITS": "10000000/1m", "OTP_RESEND_COOLDOWN": "1s",
		"API_KEY_WRITE_LIMITS": "10000000/1s",
		// The fraud guard judges every send, and never blocks the load's
		// codes that nobody enters.
		"FRAUD_MIN_SENDS": "1000000", "FRAUD_COUNTRY_MIN_SENDS": "1000000000",
	} {
		vars[k] = v
	}
	if o.extraEnv != "" {
		for _, kv := range strings.Split(o.extraEnv, ",") {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	o.queues = tasks.NewShards(o.queueShards).Names()
	env := proctest.Environ(vars)
	adminAddr := ""
	if o.profile != "" {
		if adminAddr, err = proctest.NewAddr(); err != nil {
			return err
		}
		env = append(env, "ADMIN_ADDR="+adminAddr)
	}
	api, err := proctest.Launch("api", filepath.Join(bins, "api"), os.TempDir(), env, os.Stderr)
	if err != nil {
		return err
	}
	defer api.Interrupt(30 * time.Second)
	// The worker serves ADMIN_ADDR too: without its own it would take the
	// api's, and the api would not start.
	workerEnv, workerAdmin := env, ""
	if adminAddr != "" {
		if workerAdmin, err = proctest.NewAddr(); err != nil {
			return err
		}
		workerEnv = append(slices.Clone(env), "ADMIN_ADDR="+workerAdmin)
	}
	worker, err := proctest.Launch("worker", filepath.Join(bins, "worker"), os.TempDir(), workerEnv, os.Stderr)
	if err != nil {
		return err
	}
	defer worker.Interrupt(30 * time.Second)
	base := "http://" + addr
	if err := proctest.WaitHTTP(base+"/healthz", 20*time.Second, nil); err != nil {
		return err
	}
	ceiling, ceilingBase, stopCeiling, err := startCeiling(bins, rs.URL(), env)
	if err != nil {
		return err
	}
	defer stopCeiling()

	sum := Summary{Machine: machine(), Conns: o.conns, TwilioLatencyMs: o.twilioLatency.Milliseconds(), Worker: map[string]any{}}
	sum.RedisSETRPS, sum.RedisEVALSHARPS, err = redisBenchmark(rs.Addr, o.conns)
	if err != nil {
		sum.Notes = append(sum.Notes, "redis-benchmark: "+err.Error())
	}
	fmt.Fprintf(stdout, "redis-benchmark (-c %d): SET %.0f/s, EVALSHA %.0f/s\n", o.conns, sum.RedisSETRPS, sum.RedisEVALSHARPS)

	c := newClient(base, o.conns)
	nums := &numbers{}

	// Round trips per request, from INFO commandstats around single requests.
	sum.RedisCallsSend, sum.RedisCallsCheck, err = countCommands(ctx, rdb, c, nums, o.queues)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redis commands per send %v, per check %v\n", sum.RedisCallsSend, sum.RedisCallsCheck)
	if o.signups > 0 {
		if sum.Signup, err = countSignup(ctx, rdb, c, nums, fake, o.signups, o.clientIP); err != nil {
			return err
		}
		if sum.Signup.Scripts, err = scriptCosts(ctx, rdb, c, nums, fake, o.signups, o.clientIP); err != nil {
			return err
		}
		sum.Signup.print(stdout)
	}

	insp := asynq.NewInspectorFromRedisClient(rdb)
	if o.pauseWorker {
		for _, q := range o.queues {
			if err := insp.PauseQueue(q); err != nil {
				return err
			}
		}
	}
	for _, sc := range strings.Split(o.scenarios, ",") {
		if strings.TrimSpace(sc) == "" {
			continue // -scenarios "" measures only the worker and memory
		}
		if err := quiesce(ctx, insp, o.queues); err != nil {
			return err
		}
		var r Result
		stopProfile := func() {}
		if o.profile != "" {
			prefix := o.profile + "-" + strings.TrimSpace(sc)
			stopAPI := profile(adminAddr, o.warmup+o.duration/2, o.duration/2, prefix+".pprof")
			stopWorker := profile(workerAdmin, o.warmup+o.duration/2, o.duration/2, prefix+"-worker.pprof")
			stopProfile = func() { stopAPI(); stopWorker() }
		}
		closed := func(fn func(int) (int, error)) ([]time.Duration, map[string]int, time.Duration) {
			return load(o.conns, o.warmup, o.duration, fn)
		}
		name := strings.TrimSpace(sc)
		worker0, redis0 := cpu(worker), redistest.CPU(ctx, rdb)
		switch name {
		case "ceiling":
			r = scenarioCeiling(o, newClient(ceilingBase, o.conns), nums, ceiling, closed)
		case "send":
			r, err = scenarioSend(ctx, o, c, nums, api, fake, closed)
		case "check":
			r, err = scenarioCheck(ctx, o, c, nums, api, rdb, closed)
		case "flow":
			r, err = scenarioFlow(ctx, o, c, nums, api, fake, closed)
		default:
			return fmt.Errorf("unknown scenario %q", sc)
		}
		stopProfile()
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		if name == "send" && !o.pauseWorker {
			// Its SMS are still going out: count the worker until they are.
			_ = drain(insp, o.queues)
		}
		all := float64(r.Requests) * (o.duration + o.warmup).Seconds() / o.duration.Seconds()
		r.WorkerCPUPer1k = (cpu(worker) - worker0) / all * 1000
		r.RedisCPUPer1k = (redistest.CPU(ctx, rdb) - redis0) / all * 1000
		r.Mode = "closed"
		report(stdout, &sum, r)
		if name == "flow" || name == "ceiling" || (o.openFraction <= 0 && o.rate <= 0) {
			continue
		}
		// The same requests on a fixed schedule.
		rate := o.rate
		if rate <= 0 {
			rate = o.openFraction * r.RPS
		}
		if err := quiesce(ctx, insp, o.queues); err != nil {
			return err
		}
		oc := newClient(base, 512)
		open := func(fn func(int) (int, error)) ([]time.Duration, map[string]int, time.Duration) {
			return loadOpen(rate, o.warmup, o.duration, fn)
		}
		if name == "send" {
			r, err = scenarioSend(ctx, o, oc, nums, api, fake, open)
		} else {
			r, err = scenarioCheck(ctx, o, oc, nums, api, rdb, open)
		}
		if err != nil {
			return fmt.Errorf("%s open loop: %w", sc, err)
		}
		r.Name, r.Mode, r.TargetRPS = fmt.Sprintf("%s@%.0f/s", name, rate), "open", rate
		report(stdout, &sum, r)
	}

	// Worker capacity: a burst far above what it can send at once.
	if o.pauseWorker {
		for _, q := range o.queues {
			if err := insp.UnpauseQueue(q); err != nil {
				return err
			}
		}
	}
	if err := quiesce(ctx, insp, o.queues); err != nil {
		return err
	}
	if err := workerCapacity(ctx, o, c, nums, fake, &sum); err != nil {
		return err
	}
	if err := memory(ctx, o, c, nums, rdb, fake, &sum); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redis bytes per verification: %.0f pending (task done), %.0f while its task is queued\n", sum.BytesPending, sum.BytesQueued)
	fmt.Fprintf(stdout, "redis keys after the memory test (kind: count, MEMORY USAGE): %v\n", sum.KeysPending)
	fmt.Fprintf(stdout, "a pending verification's fields (name: value length): %v\n", sum.SampleFields)
	if sum.Ceiling = ceilingRatios(sum.Scenarios); sum.Ceiling != nil {
		cl := sum.Ceiling
		fmt.Fprintf(stdout, "ceiling (Gin + one EVALSHA): %.0f req/s, %.0f µs CPU/req, redis %.0f µs CPU/req; api/ceiling CPU: send %.2f check %.2f; redis/ceiling-redis CPU: send %.2f check %.2f\n",
			cl.RPS, cl.CPUusPerReq, cl.RedisCPUusPerRq, cl.APISendRatio, cl.APICheckRatio, cl.RedisSendRatio, cl.RedisCheckRatio)
	}

	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(o.out, b, 0o644); err != nil {
		return err
	}
	line := []string{}
	for _, r := range sum.Scenarios {
		line = append(line, fmt.Sprintf("%s=%.0f/s p99=%.1fms (%.0f%% SET)", r.Name, r.RPS, r.P99ms, 100*r.RatioSET))
	}
	if cl := sum.Ceiling; cl != nil {
		line = append(line, fmt.Sprintf("cpu/ceiling send=%.2f check=%.2f redis/ceiling send=%.2f check=%.2f",
			cl.APISendRatio, cl.APICheckRatio, cl.RedisSendRatio, cl.RedisCheckRatio))
	}
	fmt.Fprintf(stdout, "SUMMARY %s worker=%v/s idle-pickup-p50=%vms bytes/pending=%.0f bytes/queued=%.0f -> %s\n",
		strings.Join(line, " "), sum.Worker["sms_per_sec"], sum.Worker["idle_send_to_sms_p50_ms"], sum.BytesPending, sum.BytesQueued, o.out)
	return nil
}

// report prints a scenario's line and adds it to the summary.
func report(stdout io.Writer, sum *Summary, r Result) {
	if sum.RedisSETRPS > 0 {
		r.RatioSET = r.RPS / sum.RedisSETRPS
	}
	sum.Scenarios = append(sum.Scenarios, r)
	fmt.Fprintf(stdout, "%-6s %8.0f req/s  p50 %6.2fms p90 %6.2fms p99 %6.2fms max %7.2fms  errors %v  api cpu %.3fs/1k  %.0f%% of SET",
		r.Name, r.RPS, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.Errors, r.APICPUPer1k, 100*r.RatioSET)
	if r.WorkerCPUPer1k > 0 || r.RedisCPUPer1k > 0 {
		fmt.Fprintf(stdout, "  worker cpu %.3fs/1k  redis cpu %.3fs/1k", r.WorkerCPUPer1k, r.RedisCPUPer1k)
	}
	if r.SMSPerSec > 0 {
		fmt.Fprintf(stdout, "  sms %.0f/s", r.SMSPerSec)
	}
	if r.SendToSMSP50 > 0 {
		fmt.Fprintf(stdout, "  send→sms p50 %.0fms p99 %.0fms", r.SendToSMSP50, r.SendToSMSP99)
	}
	fmt.Fprintln(stdout)
}

// numbers hands out distinct valid US numbers.
type numbers struct{ n atomic.Int64 }

var areas = []string{"212", "310", "415", "646", "917", "303", "206", "512", "617", "702"}

func (g *numbers) next() string {
	i := g.n.Add(1)
	area := areas[int(i)%len(areas)]
	local := i / int64(len(areas))
	return fmt.Sprintf("+1%s%d%06d", area, 2+local/1_000_000%8, local%1_000_000)
}

type client struct {
	base string
	http *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *client) post(path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// load runs fn on conns goroutines for warmup+duration and measures the
// last duration.
func load(conns int, warmup, duration time.Duration, fn func(worker int) (status int, err error)) (lat []time.Duration, errs map[string]int, measured time.Duration) {
	var mu sync.Mutex
	errs = map[string]int{}
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var local []time.Duration
			localErr := map[string]int{}
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				status, err := fn(w)
				d := time.Since(t0)
				if t0.After(measureFrom) {
					local = append(local, d)
					switch {
					case err != nil:
						localErr["transport"]++
					case status >= 300:
						localErr[strconv.Itoa(status)]++
					}
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			for k, v := range localErr {
				errs[k] += v
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return lat, errs, duration
}

// maxOpenInFlight bounds the requests an open loop has outstanding: past
// it the system is overloaded, and a request that cannot start counts as
// an "overload" error instead of piling up goroutines.
const maxOpenInFlight = 1024

// loadOpen starts fn at a fixed rate for warmup+duration, each call on its
// own goroutine, and measures the last duration. A call's latency runs
// from when it was due, not when it started, so queueing in the load
// generator is not hidden (no coordinated omission).
func loadOpen(rate float64, warmup, duration time.Duration, fn func(worker int) (status int, err error)) (lat []time.Duration, errs map[string]int, measured time.Duration) {
	var mu sync.Mutex
	errs = map[string]int{}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	sem := make(chan struct{}, maxOpenInFlight)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.After(end) {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		measure := due.After(measureFrom)
		select {
		case sem <- struct{}{}:
		default:
			if measure {
				mu.Lock()
				errs["overload"]++
				mu.Unlock()
			}
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			status, err := fn(i)
			d := time.Since(due)
			if !measure {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, d)
			switch {
			case err != nil:
				errs["transport"]++
			case status >= 300:
				errs[strconv.Itoa(status)]++
			}
		}(i)
	}
	wg.Wait()
	return lat, errs, duration
}

func summarize(name string, lat []time.Duration, errs map[string]int, d time.Duration) Result {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := Result{Name: name, Requests: len(lat), RPS: float64(len(lat)) / d.Seconds(), Errors: errs}
	if len(lat) > 0 {
		r.P50ms = ms(pct(lat, 50))
		r.P90ms = ms(pct(lat, 90))
		r.P99ms = ms(pct(lat, 99))
		r.MaxMs = ms(lat[len(lat)-1])
	}
	return r
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// driver runs a scenario's requests, closed or open loop.
type driver func(fn func(worker int) (status int, err error)) ([]time.Duration, map[string]int, time.Duration)

func scenarioSend(ctx context.Context, o options, c *client, nums *numbers, api *proctest.Proc, fake *twiliofake.Server, drive driver) (Result, error) {
	cpu0 := cpu(api)
	sms0, t0 := fake.AcceptedCount(), time.Now()
	lat, errs, d := drive(func(int) (int, error) {
		st, _, err := c.post("/v1/verifications", map[string]string{"to": nums.next()})
		return st, err
	})
	r := summarize("send", lat, errs, d)
	r.APICPUPer1k = (cpu(api) - cpu0) / float64(max(1, r.Requests)) * 1000 * d.Seconds() / (d + o.warmup).Seconds()
	r.SMSPerSec = float64(fake.AcceptedCount()-sms0) / time.Since(t0).Seconds()
	return r, nil
}

func scenarioCheck(ctx context.Context, o options, c *client, nums *numbers, api *proctest.Proc, rdb *redis.Client, drive driver) (Result, error) {
	// Enough pending verifications that none reaches OTP_MAX_CHECKS (100).
	const pending = 3000
	ids := make([]string, 0, pending)
	for len(ids) < pending {
		st, v, err := c.post("/v1/verifications", map[string]string{"to": nums.next()})
		if err != nil || st != 202 {
			return Result{}, fmt.Errorf("seed send: %d %v", st, err)
		}
		ids = append(ids, v["id"].(string))
	}
	var i atomic.Int64
	cpu0 := cpu(api)
	lat, errs, d := drive(func(int) (int, error) {
		id := ids[int(i.Add(1))%len(ids)]
		st, _, err := c.post("/v1/verifications/check", map[string]string{"id": id, "code": "000000"})
		return st, err
	})
	r := summarize("check", lat, errs, d)
	r.APICPUPer1k = (cpu(api) - cpu0) / float64(max(1, r.Requests)) * 1000 * d.Seconds() / (d + o.warmup).Seconds()
	return r, nil
}

// scenarioFlow is a signup: send, wait for the SMS at the fake, check with
// the code it carried.
func scenarioFlow(ctx context.Context, o options, c *client, nums *numbers, api *proctest.Proc, fake *twiliofake.Server, drive driver) (Result, error) {
	var mu sync.Mutex
	var sendToSMS []time.Duration
	cpu0 := cpu(api)
	lat, errs, d := drive(func(int) (int, error) {
		to := nums.next()
		sms, t0, st, err := sendAwaitingSMS(c, fake, to)
		if err != nil || st != 202 {
			return st, err
		}
		mu.Lock()
		sendToSMS = append(sendToSMS, sms.At.Sub(t0))
		mu.Unlock()
		st, body, err := c.post("/v1/verifications/check", map[string]string{"to": to, "code": twiliofake.CodeIn(sms.Form.Get("Body"))})
		if err == nil && st == 200 && body["valid"] != true {
			return 598, nil
		}
		return st, err
	})
	r := summarize("flow", lat, errs, d)
	r.APICPUPer1k = (cpu(api) - cpu0) / float64(max(1, r.Requests)) * 1000 * d.Seconds() / (d + o.warmup).Seconds()
	sort.Slice(sendToSMS, func(i, j int) bool { return sendToSMS[i] < sendToSMS[j] })
	r.SendToSMSP50, r.SendToSMSP99 = ms(pct(sendToSMS, 50)), ms(pct(sendToSMS, 99))
	return r, nil
}

// startCeiling runs the ceiling server against the same Redis, with the
// api's environment (so -env GOGC=… applies to it too). It is
// bins/ceiling, built into a temporary directory when missing there.
func startCeiling(bins, redisURL string, env []string) (*proctest.Proc, string, func(), error) {
	bin, cleanup := filepath.Join(bins, "ceiling"), func() {}
	if _, err := os.Stat(bin); err != nil {
		dir, err := os.MkdirTemp("", "otpd-ceiling-")
		if err != nil {
			return nil, "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		bin = filepath.Join(dir, "ceiling")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/otpd/otpd/internal/tools/ceiling")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			cleanup()
			return nil, "", nil, fmt.Errorf("build ceiling: %w", err)
		}
	}
	addr, err := proctest.NewAddr()
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	p, err := proctest.Launch("ceiling", bin, os.TempDir(), env, os.Stderr, "-addr", addr, "-redis", redisURL)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	stop := func() { p.Interrupt(10 * time.Second); cleanup() }
	base := "http://" + addr
	if err := proctest.WaitHTTP(base+"/healthz", 20*time.Second, nil); err != nil {
		stop()
		return nil, "", nil, err
	}
	return p, base, stop, nil
}

// scenarioCeiling drives the ceiling server as scenarioSend drives the
// api: a distinct number per request, the same connections and driver. Its
// APICPUPer1k is the ceiling process's CPU.
func scenarioCeiling(o options, c *client, nums *numbers, ceiling *proctest.Proc, drive driver) Result {
	cpu0 := cpu(ceiling)
	lat, errs, d := drive(func(int) (int, error) {
		st, _, err := c.post("/ceiling", map[string]string{"to": nums.next(), "code": "000000"})
		return st, err
	})
	r := summarize("ceiling", lat, errs, d)
	r.APICPUPer1k = (cpu(ceiling) - cpu0) / float64(max(1, r.Requests)) * 1000 * d.Seconds() / (d + o.warmup).Seconds()
	return r
}

// ceilingRatios sets the closed-loop send and check against the ceiling
// (see Ceiling); nil when the ceiling did not run. CPU seconds per 1,000
// requests are milliseconds per request: ×1000 is µs.
func ceilingRatios(results []Result) *Ceiling {
	byName := map[string]Result{}
	for _, r := range results {
		if r.Mode == "closed" {
			byName[r.Name] = r
		}
	}
	base, ok := byName["ceiling"]
	if !ok {
		return nil
	}
	ratio := func(a, b float64) float64 {
		if a <= 0 || b <= 0 {
			return 0
		}
		return a / b
	}
	cl := &Ceiling{RPS: base.RPS, CPUusPerReq: base.APICPUPer1k * 1000, RedisCPUusPerRq: base.RedisCPUPer1k * 1000}
	cl.APISendRatio = ratio(byName["send"].APICPUPer1k, base.APICPUPer1k)
	cl.APICheckRatio = ratio(byName["check"].APICPUPer1k, base.APICPUPer1k)
	cl.RedisSendRatio = ratio(byName["send"].RedisCPUPer1k, base.RedisCPUPer1k)
	cl.RedisCheckRatio = ratio(byName["check"].RedisCPUPer1k, base.RedisCPUPer1k)
	return cl
}

// sendAwaitingSMS sends to a number and waits up to 10s for its SMS at
// the fake. It answers the send's time and status; a send refused with a
// status is not waited for, and 599 means no SMS came.
func sendAwaitingSMS(c *client, fake *twiliofake.Server, to string) (sms twiliofake.Request, sentAt time.Time, status int, err error) {
	got := fake.Expect(to) // before the send: a fast SMS must not be missed
	sentAt = time.Now()
	status, _, err = c.post("/v1/verifications", map[string]string{"to": to})
	if err != nil || status != 202 {
		return sms, sentAt, status, err
	}
	select {
	case sms = <-got:
		return sms, sentAt, status, nil
	case <-time.After(10 * time.Second):
		return sms, sentAt, 599, errors.New("no SMS")
	}
}

// sendMany starts n verifications for new numbers over conns
// connections; any answer but 202 is an error.
func sendMany(c *client, nums *numbers, conns, n int) error {
	var wg sync.WaitGroup
	var next, failed atomic.Int64
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if st, _, err := c.post("/v1/verifications", map[string]string{"to": nums.next()}); err != nil || st != 202 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d sends failed", f, n)
	}
	return nil
}

// workerCapacity queues a burst and measures how fast the fake receives it,
// then the pickup latency of an idle worker.
func workerCapacity(ctx context.Context, o options, c *client, nums *numbers, fake *twiliofake.Server, sum *Summary) error {
	burst := o.workerConcurrency * 20
	before := fake.AcceptedCount()
	if err := sendMany(c, nums, o.conns, burst); err != nil {
		return err
	}
	// Measure the steady middle of the drain: from 10% to 90% received.
	var t10, t90 time.Time
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		got := fake.AcceptedCount() - before
		if t10.IsZero() && got >= burst/10 {
			t10 = time.Now()
		}
		if got >= burst*9/10 {
			t90 = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if t90.IsZero() {
		return fmt.Errorf("worker drained only %d of %d", fake.AcceptedCount()-before, burst)
	}
	rate := float64(burst*8/10) / t90.Sub(t10).Seconds()
	ideal := float64(o.workerConcurrency) / o.twilioLatency.Seconds()
	sum.Worker["sms_per_sec"] = int(rate)
	sum.Worker["ideal_per_sec"] = int(ideal)
	sum.Worker["fraction_of_ideal"] = rate / ideal
	time.Sleep(2 * time.Second) // drain the rest, worker idle

	// Idle pickup: one send at a time into an empty queue.
	var d []time.Duration
	for i := 0; i < 30; i++ {
		sms, t0, st, err := sendAwaitingSMS(c, fake, nums.next())
		if err != nil || st != 202 {
			return fmt.Errorf("idle send: %d %v", st, err)
		}
		d = append(d, sms.At.Sub(t0)-o.twilioLatency)
		time.Sleep(200 * time.Millisecond)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	sum.Worker["idle_send_to_sms_p50_ms"] = ms(pct(d, 50))
	sum.Worker["idle_send_to_sms_p99_ms"] = ms(pct(d, 99))
	sum.Worker["note"] = "idle pickup excludes the fake Twilio's latency"
	fmt.Printf("worker: %.0f SMS/s (ideal %.0f = concurrency %d / %v), idle pickup p50 %.1fms p99 %.1fms (+ Twilio latency)\n",
		rate, ideal, o.workerConcurrency, o.twilioLatency, ms(pct(d, 50)), ms(pct(d, 99)))
	return nil
}

// memory measures Redis bytes per verification: with the worker stopped
// (task queued) and after the tasks completed (pending verification only).
func memory(ctx context.Context, o options, c *client, nums *numbers, rdb *redis.Client, fake *twiliofake.Server, sum *Summary) error {
	n := o.memCount
	settle := func() {
		// Wait for the queue to drain.
		for i := 0; i < 600; i++ {
			left := int64(0)
			for _, q := range o.queues {
				l, _ := rdb.LLen(ctx, "asynq:{"+q+"}:pending").Result()
				a, _ := rdb.LLen(ctx, "asynq:{"+q+"}:active").Result()
				left += l + a
			}
			if left == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	settle()
	rdb.FlushDB(ctx) // a clean slate; the worker's own keys come back at once
	time.Sleep(time.Second)
	used := func() float64 {
		v, _ := rdb.Info(ctx, "memory").Result()
		m := regexp.MustCompile(`used_memory:(\d+)`).FindStringSubmatch(v)
		f, _ := strconv.ParseFloat(m[1], 64)
		return f
	}
	before := used()
	// Queued: pause the queue so the tasks wait.
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, q := range o.queues {
		if err := insp.PauseQueue(q); err != nil {
			return err
		}
	}
	if err := sendMany(c, nums, o.conns, n); err != nil {
		return err
	}
	sum.BytesQueued = (used() - before) / float64(n)
	for _, q := range o.queues {
		if err := insp.UnpauseQueue(q); err != nil {
			return err
		}
	}
	settle()
	time.Sleep(2 * time.Second)
	// Completed tasks are deleted (no Retention); what is left is the state.
	sum.BytesPending = (used() - before) / float64(n)
	sum.KeysPending = keyKinds(ctx, rdb)
	sum.SampleFields = sampleFields(ctx, rdb)
	return nil
}

// sampleFields is one pending verification's fields and the length of
// each value (never the value: it may be code material), to show where a
// hash's bytes go.
func sampleFields(ctx context.Context, rdb *redis.Client) map[string]int {
	iter := rdb.Scan(ctx, 0, "otp:{*}", 1000).Iterator() // a number's hash, not an archive
	if !iter.Next(ctx) {
		return nil
	}
	out := map[string]int{}
	for f, v := range rdb.HGetAll(ctx, iter.Val()).Val() {
		out[f] = len(v)
	}
	return out
}

// keyKinds counts keys by kind (the key name with its hash tag and id
// masked) and sums their MEMORY USAGE, to show where the bytes go.
func keyKinds(ctx context.Context, rdb *redis.Client) map[string][2]int64 {
	out := map[string][2]int64{}
	tag := regexp.MustCompile(`\{[0-9a-f]{20}\}`)
	id := regexp.MustCompile(`VE[0-9a-f]{32}`)
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		kind := id.ReplaceAllString(tag.ReplaceAllString(k, "{tag}"), "<id>")
		for _, p := range []string{"rate:", "lim:"} {
			if strings.HasPrefix(kind, p) {
				kind = p + "…"
			}
		}
		c := out[kind]
		c[0]++
		c[1] += rdb.MemoryUsage(ctx, k).Val()
		out[kind] = c
	}
	return out
}

// drain waits (up to a minute) until the send queues are empty, so the
// worker's CPU for a scenario's SMS is counted with it.
func drain(insp *asynq.Inspector, queues []string) error {
	for i := 0; i < 600; i++ {
		left := 0
		for _, q := range queues {
			if info, err := insp.GetQueueInfo(q); err == nil {
				left += info.Pending + info.Active + info.Retry
			}
		}
		if left == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the send queues did not drain in a minute")
}

// quiesce deletes the SMS tasks an earlier scenario left queued (a send
// scenario queues far more than the worker sends in its time) and waits
// for the running ones, so that each scenario starts on a quiet system and
// a signup's SMS does not wait behind another scenario's backlog.
func quiesce(ctx context.Context, insp *asynq.Inspector, queues []string) error {
	for _, q := range queues {
		for _, del := range []func(string) (int, error){insp.DeleteAllPendingTasks, insp.DeleteAllScheduledTasks, insp.DeleteAllRetryTasks} {
			if _, err := del(q); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return fmt.Errorf("quiesce: %w", err)
			}
		}
	}
	for i := 0; i < 300; i++ {
		active := 0
		for _, q := range queues {
			if info, err := insp.GetQueueInfo(q); err == nil {
				active += info.Active
			}
		}
		if active == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("quiesce: tasks still active after 30s")
}

// countCommands reports Redis commands per send and per check.
func countCommands(ctx context.Context, rdb *redis.Client, c *client, nums *numbers, queues []string) (send, check map[string]int64, err error) {
	to := nums.next()
	// Warm the script cache and connections first.
	c.post("/v1/verifications", map[string]string{"to": nums.next()})
	c.post("/v1/verifications/check", map[string]string{"to": to, "code": "000000"})
	time.Sleep(500 * time.Millisecond)
	measure := func(fn func()) map[string]int64 {
		// The worker polls Redis too; measure around a burst of 200 and
		// subtract an idle window of the same length.
		idle := statsDelta(ctx, rdb, func() { time.Sleep(300 * time.Millisecond) })
		t0 := time.Now()
		busy := statsDelta(ctx, rdb, fn)
		scale := float64(time.Since(t0)) / float64(300*time.Millisecond)
		out := map[string]int64{}
		for k, v := range busy {
			if d := float64(v) - float64(idle[k])*scale; d > 0 {
				out[k] = int64(d/200 + 0.5)
			}
		}
		return out
	}
	// The queue is paused so the worker's own commands (claim, record)
	// do not count: this is the api's share.
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, q := range queues {
		if err := insp.PauseQueue(q); err != nil {
			return nil, nil, err
		}
		defer insp.UnpauseQueue(q)
	}
	send = measure(func() {
		for i := 0; i < 200; i++ {
			c.post("/v1/verifications", map[string]string{"to": nums.next()})
		}
	})
	st, v, err := c.post("/v1/verifications", map[string]string{"to": to})
	if err != nil || st != 202 {
		return nil, nil, fmt.Errorf("send for checks: %d %v", st, err)
	}
	id := v["id"].(string)
	check = measure(func() {
		for i := 0; i < 200; i++ {
			c.post("/v1/verifications/check", map[string]string{"id": id, "code": "000000"})
		}
	})
	return send, check, nil
}

func statsDelta(ctx context.Context, rdb *redis.Client, fn func()) map[string]int64 {
	a, _ := redistest.CommandStats(ctx, rdb)
	fn()
	b, _ := redistest.CommandStats(ctx, rdb)
	out := map[string]int64{}
	for k, v := range b {
		if k == "info" {
			continue
		}
		out[k] = v - a[k]
	}
	return out
}

func redisBenchmark(addr string, conns int) (set, evalsha float64, err error) {
	host, port, _ := net.SplitHostPort(addr)
	rps := func(args ...string) (float64, error) {
		cmd := exec.Command("redis-benchmark", append([]string{"-h", host, "-p", port, "-c", strconv.Itoa(conns), "-n", "200000", "-q"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%v: %s", err, out)
		}
		m := regexp.MustCompile(`([\d.]+) requests per second`).FindAllSubmatch(out, -1)
		if len(m) == 0 {
			return 0, fmt.Errorf("unparsed: %s", out)
		}
		return strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	}
	if set, err = rps("-t", "set"); err != nil {
		return 0, 0, err
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	sha, err := c.ScriptLoad(context.Background(), "return 1").Result()
	if err != nil {
		return set, 0, err
	}
	evalsha, err = rps("evalsha", sha, "0")
	return set, evalsha, err
}

// cpu is the process's user+system CPU seconds, from /proc.
func cpu(p *proctest.Proc) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b)
	name := "unknown cpu"
	if model != nil {
		name = string(model[1])
	}
	return fmt.Sprintf("%s, %d cores", name, bytes.Count(b, []byte("processor\t:")))
}

// profile fetches a CPU profile of the middle of the scenario from a
// process's ADMIN_ADDR; the returned func waits for it.
func profile(addr string, after, length time.Duration, path string) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(after)
		secs := max(1, int(length.Seconds()))
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(path, b, 0o644)
	}()
	return func() { <-done }
}
