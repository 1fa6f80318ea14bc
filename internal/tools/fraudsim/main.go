// Command fraudsim is `make fraud-sim`: an SMS-pumping attack on the real
// api and worker binaries, to measure what the fraud guard lets through
// and whom it refuses. Like `make bench` it starts a throw-away Redis, the
// fake Twilio and the binaries in production configuration, all on
// 127.0.0.1, then drives legitimate users and three kinds of bots in
// accelerated time: every duration of the service's configuration is the
// default divided by -speed (Redis's clock, which the guard judges by,
// cannot be sped up), and every time the simulation speaks of is
// simulated unless it says "real". It prints a table and PASS/FAIL per
// target and writes the figures to -out. It is not part of the production
// binaries.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bins  string
	speed float64
	seed  uint64
	out   string
	// compare is an earlier run's -out, whose rotate attack this run's is
	// set against (another -rotate-ranges, say).
	compare string
	// Simulated times: the legitimate traffic alone, then the attacks
	// with it.
	warmup, duration time.Duration

	legitRate              float64 // arrivals per simulated second, all countries
	approveMin, approveMax float64 // a user enters the code with a probability drawn from this span
	countries              string  // REGION=weight,...
	rangesMin, rangesMax   int     // legitimate ranges per country

	hammerCountry, rotateCountry, mimicCountry string
	hammerRanges, rotateRanges, mimicRanges    int
	hammerRate, rotateRate, mimicRate          float64 // per simulated second: per range (hammer, mimic), in all (rotate)
	mimicApprove                               float64

	twilioLatency time.Duration // real
	conns         int           // keep-alive connections, each population its own
	extraEnv      string
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fraudsim:", err)
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.bins, "bin", "", "directory with the api and worker binaries (default: build them)")
	flag.Float64Var(&o.speed, "speed", 60, "time acceleration: every duration is divided by it (FRAUD_WINDOW's 1m minimum makes 60 the most for the default 1h)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the population (its ranges and their weights); arrivals, choices and timing vary from run to run")
	flag.StringVar(&o.out, "out", "bin/fraud-sim-result.json", "machine-readable result (bin/ is ignored by git)")
	flag.StringVar(&o.compare, "compare", "", "an earlier run's -out: compare its rotate attack with this one's")
	flag.DurationVar(&o.warmup, "warmup", time.Hour, "simulated legitimate traffic before any attack (default: one FRAUD_WINDOW)")
	flag.DurationVar(&o.duration, "duration", 2*time.Hour, "simulated time the attacks run, with the legitimate traffic")
	flag.Float64Var(&o.legitRate, "legit-rate", 2, "legitimate users per simulated second, all countries (Poisson)")
	flag.Float64Var(&o.approveMin, "approve-min", 0.7, "least probability that a user enters the code (drawn per user)")
	flag.Float64Var(&o.approveMax, "approve-max", 0.9, "greatest probability that a user enters the code")
	flag.StringVar(&o.countries, "countries", "US=25,GB=15,DE=15,BR=15,IN=15,ID=15", "legitimate users' countries and their weights")
	flag.IntVar(&o.rangesMin, "ranges-min", 30, "least legitimate number ranges of a country (the lightest by weight)")
	flag.IntVar(&o.rangesMax, "ranges-max", 60, "most legitimate number ranges of a country (the heaviest by weight)")
	flag.StringVar(&o.hammerCountry, "hammer-country", "GB", "country of the hammered ranges (a)")
	flag.IntVar(&o.hammerRanges, "hammer-ranges", 3, "ranges hammered (a)")
	flag.Float64Var(&o.hammerRate, "hammer-rate", 1, "sends per simulated second to each hammered range (a)")
	flag.StringVar(&o.rotateCountry, "rotate-country", "ID", "country whose ranges the rotating bots walk (b); legitimate users come from it too")
	flag.IntVar(&o.rotateRanges, "rotate-ranges", 300, "ranges the rotating bots walk, one or two sends each per pass (b)")
	flag.Float64Var(&o.rotateRate, "rotate-rate", 3, "sends per simulated second of the rotating bots, in all (b)")
	flag.StringVar(&o.mimicCountry, "mimic-country", "BR", "country of the mimicking bots' ranges (c)")
	flag.IntVar(&o.mimicRanges, "mimic-ranges", 3, "ranges of the mimicking bots (c)")
	flag.Float64Var(&o.mimicRate, "mimic-rate", 1, "sends per simulated second to each mimicking range (c)")
	flag.Float64Var(&o.mimicApprove, "mimic-approve", 0.1, "share of their own codes the mimicking bots enter (c)")
	flag.DurationVar(&o.twilioLatency, "twilio-latency", 20*time.Millisecond, "the fake Twilio's latency (real)")
	flag.IntVar(&o.conns, "conns", 16, "keep-alive connections of the legitimate users, and as many for the bots")
	flag.StringVar(&o.extraEnv, "env", "", "comma-separated KEY=VALUE added to the api's and the worker's environment (after the scaled defaults)")
	flag.Parse()
	return o
}

func (o options) validate() error {
	switch {
	case o.speed < 1:
		return fmt.Errorf("-speed %v: at least 1", o.speed)
	case o.approveMin < 0 || o.approveMax > 1 || o.approveMin > o.approveMax:
		return fmt.Errorf("-approve-min %v, -approve-max %v: 0 ≤ min ≤ max ≤ 1", o.approveMin, o.approveMax)
	case o.rangesMin < 1 || o.rangesMax < o.rangesMin:
		return fmt.Errorf("-ranges-min %d, -ranges-max %d", o.rangesMin, o.rangesMax)
	case o.legitRate <= 0 || o.hammerRate <= 0 || o.rotateRate <= 0 || o.mimicRate <= 0:
		return fmt.Errorf("every rate must be above 0")
	case o.mimicApprove < 0 || o.mimicApprove >= 1:
		return fmt.Errorf("-mimic-approve %v: from 0 to below 1", o.mimicApprove)
	}
	return nil
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	began := time.Now()
	env, p, err := serviceEnv(o)
	if err != nil {
		return err
	}
	printConfig(stdout, o, env, p)
	st, err := startStack(ctx, o, env)
	if err != nil {
		return err
	}
	defer st.stop()
	s, err := newSim(o, p, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\npopulation: %s\n", s.describe())
	fmt.Fprintf(stdout, "running %s simulated (%s warm-up, then %s of attacks) in about %s real…\n",
		o.warmup+o.duration, o.warmup, o.duration, clock{speed: o.speed}.realDur(o.warmup+o.duration).Round(time.Second))
	if err := s.run(ctx); err != nil {
		return err
	}
	res, err := s.result(ctx)
	if err != nil {
		return err
	}
	res.RealSeconds = time.Since(began).Seconds()
	if err := res.compareWith(o.compare); err != nil {
		return err
	}
	res.Targets = checkTargets(res, p)
	printResult(stdout, res)
	return writeJSON(o.out, res, stdout)
}

// splitEnv reads -env's KEY=VALUE list.
func splitEnv(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k != "" {
			out[k] = v
		}
	}
	return out
}
