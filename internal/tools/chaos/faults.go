package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// fault is one thing that goes wrong, and what the service must do about
// it.
type fault struct {
	name, target string
	zeroLoss     bool
	maxWait      time.Duration
	sentinel     bool              // a Sentinel set, not a standalone Redis with AOF
	env          map[string]string // added to the stack's environment
	// fullOnly leaves the fault out of the short form unless -faults
	// names it; optIn leaves it out of both.
	fullOnly, optIn bool
	// noAOF runs the standalone Redis without persistence.
	noAOF bool
	// latency, when not 0, replaces -twilio-latency for this fault.
	latency time.Duration
	apply   func(ctx context.Context, st *stack, o options) error
}

func faults(o options) []fault {
	sentinelApply := func(ctx context.Context, st *stack, _ options) error { return st.sentinel.failover(ctx) }
	return []fault{
		// Twilio answers in 1 s here, and the kill waits for 4 sends in
		// flight: the killed worker then most likely dies mid-send.
		{name: "worker-kill", target: lostAndWait(o.maxWaitAfterWorkerKill), zeroLoss: true, maxWait: o.maxWaitAfterWorkerKill, latency: time.Second,
			apply: func(_ context.Context, st *stack, o options) error {
				_ = waitUntil(10*time.Second, "sends in flight", func() bool { return st.fake.InFlight() >= 4 })
				fmt.Fprintf(os.Stderr, "chaos: worker-kill: %d sends in flight at Twilio at the kill\n", st.fake.InFlight())
				st.kill(st.workers[0])
				time.Sleep(o.down)
				return st.startWorker(0)
			}},
		{name: "api-kill", target: "0 lost", zeroLoss: true,
			apply: func(_ context.Context, st *stack, o options) error {
				st.kill(st.apis[0])
				time.Sleep(o.down)
				return st.startAPI(0)
			}},
		{name: "twilio-503", target: fmt.Sprintf("0 lost (503s for %s)", o.outage), zeroLoss: o.outage < o.codeLife,
			apply: func(_ context.Context, st *stack, o options) error {
				st.fake.SetOutage(http.StatusServiceUnavailable)
				time.Sleep(o.outage)
				st.fake.SetOutage(0)
				return nil
			}},
		{name: "redis-restart-aof", target: "0 lost", zeroLoss: true,
			apply: func(_ context.Context, st *stack, o options) error {
				st.aof.kill()
				time.Sleep(o.down)
				return st.aof.start()
			}},
		// The check of the check (-faults redis-restart-no-aof): Twilio
		// refuses for 3 s so that tasks wait to be retried, then Redis,
		// without persistence, restarts and forgets them: the row must
		// FAIL.
		{name: "redis-restart-no-aof", target: "0 lost (must FAIL: no persistence)", zeroLoss: true, noAOF: true, optIn: true,
			apply: func(_ context.Context, st *stack, o options) error {
				st.fake.SetOutage(http.StatusServiceUnavailable)
				defer st.fake.SetOutage(0)
				time.Sleep(3 * time.Second)
				st.aof.kill()
				time.Sleep(o.down)
				return st.aof.start()
			}},
		// Informational rows wait in the drain for lost sends that never
		// come (about 100 s): left out of the short form.
		{name: "sentinel-failover", target: "informational", sentinel: true, fullOnly: true, apply: sentinelApply},
		{name: "sentinel-failover-min-replicas-1", target: "0 lost", zeroLoss: true, sentinel: true,
			env: map[string]string{"REDIS_MIN_REPLICAS": "1"}, apply: sentinelApply},
	}
}

// lostAndWait is the worker kill's target: none lost, and, when given, no
// 202 waiting longer than max for its SMS.
func lostAndWait(max time.Duration) string {
	if max <= 0 {
		return "0 lost"
	}
	return fmt.Sprintf("0 lost, ≤ %v", max)
}

// runFault runs one fault in a fresh stack: load, then the fault, a calm
// period, the load's end and the drain; it returns the fault's row.
func runFault(ctx context.Context, o options, f fault) (Row, error) {
	row := Row{Fault: f.name, Target: f.target, ZeroLoss: f.zeroLoss, MaxWait: f.maxWait}
	if f.latency != 0 {
		o.twilioLatency = f.latency
	}
	st, err := startStack(o, f)
	if err != nil {
		return row, fmt.Errorf("%s: start: %w", f.name, err)
	}
	defer st.stop()
	userCtx, cancelUsers := context.WithCancel(ctx)
	defer cancelUsers()
	l := newLoad(userCtx, func(i int) string { return st.base(i % len(st.apis)) }, st.fake)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { defer close(stopped); l.run(o.rate, stop) }()

	sleep(ctx, o.warmup)
	faultAt := time.Now()
	fmt.Fprintf(os.Stderr, "chaos: %s: fault at %s\n", f.name, faultAt.Format("15:04:05"))
	ferr := f.apply(ctx, st, o)
	sleep(ctx, o.calm)
	close(stop)
	<-stopped
	l.sending.Wait()
	how := drain(ctx, st, l, o)
	// The users whose SMS came check their codes: a few seconds more.
	waitGroup(&l.users, 15*time.Second)
	cancelUsers()
	l.users.Wait()

	row = tally(row, l.snapshot(), smsByTo(st.fake.Accepted()), faultAt)
	row.Notes = append(row.Notes, how)
	for _, e := range []error{ferr, st.crashed()} {
		if e != nil {
			row.Verdict, row.Notes = "FAIL", append(row.Notes, e.Error())
		}
	}
	if row.Verdict == "FAIL" && o.verbose {
		fmt.Fprintf(os.Stderr, "chaos: %s failed; the processes' last output:\n%s", f.name, st.logs())
	}
	return row, ctx.Err()
}

// drain waits until the queues have held no task (pending, active,
// scheduled or retrying) for 3 s: nothing more will be sent, not even the
// retry of a task a killed worker held (it stays active until its lease
// runs out), which may be a duplicate. Without -drain-queues it stops as
// soon as every acknowledged send has its SMS. It stops anyway once the
// code's life has passed since the last acknowledgement (an SMS after it
// is no use). It says how it ended.
func drain(ctx context.Context, st *stack, l *load, o options) string {
	start := time.Now()
	sends := l.snapshot()
	var last time.Time
	for _, s := range sends {
		if s.acked() && s.End.After(last) {
			last = s.End
		}
	}
	deadline := last.Add(o.codeLife)
	rdb, err := redisconn.New(st.redisURL)
	if err != nil {
		return "drain: " + err.Error()
	}
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for idle := 0; ctx.Err() == nil; sleep(ctx, 500*time.Millisecond) {
		switch {
		case !o.drainQueues && undelivered(sends, smsByTo(st.fake.Accepted())) == 0:
			return fmt.Sprintf("drain: every acknowledged send had its SMS %.0fs after the load", time.Since(start).Seconds())
		case time.Now().After(deadline):
			return fmt.Sprintf("drain: stopped at the code's life after the last acknowledgement, %d still without SMS",
				undelivered(sends, smsByTo(st.fake.Accepted())))
		case !queuesIdle(insp):
			idle = 0
		case idle >= 5:
			return fmt.Sprintf("drain: queues empty %.0fs after the load", time.Since(start).Seconds())
		default:
			idle++
		}
	}
	return "drain: interrupted"
}

// queuesIdle reports whether no queue holds a task that may still send.
func queuesIdle(insp *asynq.Inspector) bool {
	queues, err := insp.Queues()
	if err != nil {
		return false
	}
	for _, q := range queues {
		info, err := insp.GetQueueInfo(q)
		if err != nil || info.Pending+info.Active+info.Scheduled+info.Retry > 0 {
			return false
		}
	}
	return true
}

func undelivered(sends []send, sms map[string][]time.Time) int {
	n := 0
	for _, s := range sends {
		if s.acked() && len(sms[s.To]) == 0 {
			n++
		}
	}
	return n
}

// smsByTo groups the accepted messages' times by number, in order.
func smsByTo(accepted []twiliofake.Request) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, r := range accepted {
		if r.Kind == twiliofake.KindMessage {
			out[r.Form.Get("To")] = append(out[r.Form.Get("To")], r.At)
		}
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitGroup waits for wg, at most d.
func waitGroup(wg interface{ Wait() }, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
