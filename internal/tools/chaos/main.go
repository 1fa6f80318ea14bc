// Command chaos is `make chaos`: faults under a steady signup load, on the
// real api and worker binaries. Each fault runs in a fresh stack (a Redis,
// the fake Twilio, two api replicas and two workers, all on 127.0.0.1) so
// that its counts are its own: an open-loop load of signups (send, read
// the code at the fake Twilio, check it) runs for -warmup, the fault is
// applied, the load goes on for -calm, then the run waits for the
// acknowledged sends' SMS (see drain) and counts. It prints a markdown
// table with PASS/FAIL per fault, writes the figures to -out, and exits 1
// when a fault missed its target. It is not part of the production
// binaries.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

type options struct {
	bins          string
	out           string
	only          string // comma-separated fault names; "" for all
	short         bool
	rate          float64
	warmup, calm  time.Duration
	down          time.Duration // how long a killed process stays down
	outage        time.Duration // Twilio's 503s
	codeLife      time.Duration // OTP_TTL, which bounds the drain
	twilioLatency time.Duration
	// maxWaitAfterWorkerKill, when not 0, is a target on the worker kill's
	// longest 202→SMS wait.
	maxWaitAfterWorkerKill time.Duration
	verbose                bool
	// drainQueues waits for the queues to empty even when every
	// acknowledged send has its SMS, to catch retried tasks' duplicates.
	drainQueues bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&o.bins, "bin", "bin", "directory of the api and worker binaries (make build)")
	fs.StringVar(&o.out, "out", "", "where to write the JSON result (default <bin>/chaos-result.json)")
	fs.StringVar(&o.only, "faults", "", "comma-separated faults to run (default all): worker-kill, api-kill, twilio-503, redis-restart-aof, sentinel-failover, sentinel-failover-min-replicas-1")
	fs.BoolVar(&o.short, "short", false, "the CI form: shorter load and outage (defaults below are the full form's)")
	fs.Float64Var(&o.rate, "rate", 15, "signups per second, open loop")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "load before each fault")
	fs.DurationVar(&o.calm, "calm", 20*time.Second, "load after each fault")
	fs.DurationVar(&o.down, "down", 5*time.Second, "how long a killed worker, api or Redis stays down")
	fs.DurationVar(&o.outage, "twilio-outage", 60*time.Second, "how long Twilio answers 503")
	fs.DurationVar(&o.codeLife, "code-life", 10*time.Minute, "OTP_TTL: an SMS later than this after its 202 counts as lost")
	fs.DurationVar(&o.twilioLatency, "twilio-latency", 150*time.Millisecond, "the fake Twilio's answer time, so that sends are in flight when a worker dies")
	fs.DurationVar(&o.maxWaitAfterWorkerKill, "max-wait-after-worker-kill", 15*time.Second, "target on the worker kill's longest 202→SMS wait (0: report only; the short form reports only)")
	fs.BoolVar(&o.verbose, "v", true, "print the processes' last output when a fault fails")
	fs.BoolVar(&o.drainQueues, "drain-queues", true, "after the load, wait for the queues to empty even when every acknowledged send has its SMS (a killed worker's task comes back after about a minute and may send a duplicate)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		shortDefault(set, "rate", &o.rate, 10)
		shortDefault(set, "warmup", &o.warmup, 4*time.Second)
		shortDefault(set, "calm", &o.calm, 8*time.Second)
		shortDefault(set, "down", &o.down, 3*time.Second)
		shortDefault(set, "twilio-outage", &o.outage, 15*time.Second)
		shortDefault(set, "drain-queues", &o.drainQueues, false)
		// A wait is a figure for the full form, not a CI gate on a busy machine.
		shortDefault(set, "max-wait-after-worker-kill", &o.maxWaitAfterWorkerKill, 0)
	}
	if o.out == "" {
		o.out = filepath.Join(o.bins, "chaos-result.json")
	}
	if o.rate <= 0 {
		return o, fmt.Errorf("-rate must be positive")
	}
	return o, nil
}

// shortDefault sets a -short default unless the flag was given.
func shortDefault[T any](set map[string]bool, name string, v *T, d T) {
	if !set[name] {
		*v = d
	}
}

// Result is what -out holds.
type Result struct {
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"`
	Short   bool      `json:"short"`
	Rate    float64   `json:"ratePerSecond"`
	Seconds float64   `json:"seconds"`
	Rows    []Row     `json:"rows"`
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run runs the chosen faults one after another and reports; ok is false
// when one missed its target.
func run(ctx context.Context, o options, stdout io.Writer) (ok bool, err error) {
	redis.SetLogger(quiet{}) // the probes of killed servers would fill the output
	start := time.Now()
	res := Result{Date: start.UTC(), Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
		Short: o.short, Rate: o.rate}
	for _, f := range faults(o) {
		if o.only != "" && !chosen(o.only, f.name) || o.only == "" && (f.optIn || o.short && f.fullOnly) {
			if o.only == "" && !f.optIn {
				fmt.Fprintf(os.Stderr, "chaos: %s: left out of the short form\n", f.name)
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "chaos: %s: starting a fresh stack\n", f.name)
		row, err := runFault(ctx, o, f)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(os.Stderr, "chaos: %s: %s (%d acknowledged, %d lost)\n", f.name, row.Verdict, row.Acked, row.Lost)
		res.Rows = append(res.Rows, row)
	}
	res.Seconds = seconds(time.Since(start))
	fmt.Fprintf(stdout, "\nchaos: %s form, %.0f signups/s, %.0fs in all, %s\n\n", map[bool]string{true: "short", false: "full"}[o.short], o.rate, res.Seconds, res.Machine)
	printTable(stdout, res.Rows)
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
		return false, err
	}
	ok = len(res.Rows) > 0
	for _, r := range res.Rows {
		ok = ok && r.Verdict != "FAIL"
	}
	return ok, nil
}

// chosen reports whether name is among list's comma-separated names.
func chosen(list, name string) bool {
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}
