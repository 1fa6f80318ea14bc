package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
	"github.com/otpd/otpd/twilio"
)

// deadWorkerEnv makes the test binary a worker that takes one task and
// holds it until killed: a worker that dies mid-request.
const deadWorkerEnv = "OTPD_TASKS_DEAD_WORKER_REDIS"

// runDeadWorker is the test binary's life as such a worker.
func runDeadWorker(addr string) {
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: addr}, asynq.Config{
		Concurrency: 1, Queues: map[string]int{tasks.QueueName: 1}, TaskCheckInterval: 50 * time.Millisecond,
		LogLevel: asynq.ErrorLevel})
	hold := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { select {} })
	if err := srv.Run(hold); err != nil {
		os.Exit(1)
	}
}

// A worker SIGKILLed while Twilio holds its request leaves its task active
// under asynq's lease for a minute or two. The rescuer sees that no live
// worker lists it once the dead one's heartbeat lapses, enqueues a copy
// once, and that copy takes the dead run's fresh claim over at once: the
// code goes out without waiting for the claim to go stale.
func TestRescueAfterWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a killed worker's heartbeat to lapse (about 10 s)")
	}
	// Only the rescue's knowledge can take the claim over: it would not go
	// stale within the test.
	p := policy
	p.StaleClaim = time.Hour
	f := fixtureWith(t, p, twilio.Config{}, app.Options{})
	ctx := context.Background()
	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), deadWorkerEnv+"="+redisServer.Addr)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = worker.Process.Kill(); _ = worker.Wait() })

	rescuer := tasks.NewRescuer(f.insp, f.Parts.Asynq, []string{tasks.QueueName}, f.Clock.Now, storeClock(f), otptest.Logger(t), nil)
	taskID := waitListed(t, f.insp)
	if n, err := rescuer.Look(ctx); n != 0 || err != nil {
		t.Fatalf("rescued %d (%v) while its worker lives", n, err)
	}
	// Redis has been reachable for as long as a dead server stays listed.
	f.Clock.Advance(10 * time.Second)
	// The dead run had claimed the attempt and was waiting for Twilio.
	if c, err := f.Store.Claim(ctx, v.ID, 1, time.Minute, time.Time{}); err != nil || c.Outcome != otp.ClaimSend {
		t.Fatalf("claim %+v %v", c, err)
	}
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 40*time.Second, "a rescue", func() bool {
		f.Clock.Advance(200 * time.Millisecond) // the looks' time, on the fixture's clock
		n, err := rescuer.Look(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})

	pending := f.tasks(t)
	if len(pending) != 1 {
		t.Fatalf("%d pending tasks after the rescue, want its copy", len(pending))
	}
	pl, err := tasks.ParseDeliveryPayload(pending[0].Payload())
	if err != nil || pl.ID != v.ID || pl.Attempt != 1 || pl.Orphaned != f.Clock.Now().UnixMilli() || len(f.fake.Accepted()) != 0 {
		t.Fatalf("rescue payload %+v %v", pl, err)
	}
	// Another worker's rescuer, which never saw the owner, finds the copy
	// made: it waits out a heartbeat, then enqueues nothing new.
	other := tasks.NewRescuer(f.insp, f.Parts.Asynq, []string{tasks.QueueName}, f.Clock.Now, storeClock(f), otptest.Logger(t), nil)
	if _, err := other.Look(ctx); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(11 * time.Second)
	if n, err := other.Look(ctx); n != 1 || err != nil || len(f.tasks(t)) != 1 {
		t.Fatalf("second rescuer: %d, %v, %d pending", n, err, len(f.tasks(t)))
	}

	if err := f.handler.ProcessTask(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Accepted()); n != 1 {
		t.Fatalf("%d messages accepted after the rescue, want 1", n)
	}
	// Its id stays taken after it ran, while asynq may keep the orphan.
	info, err := f.insp.GetTaskInfo(tasks.QueueName, taskID+"~r")
	if err != nil || info.Retention < 2*time.Minute {
		t.Fatalf("the rescue's id is not kept: %+v %v", info, err)
	}
}

// storeClock is the fixture's store clock, as the rescuer reads it.
func storeClock(f *fixture) func(context.Context) (time.Time, error) {
	return func(context.Context) (time.Time, error) { return f.Clock.Now(), nil }
}

// waitListed waits until a live server lists the one active task, and
// answers its id.
func waitListed(t *testing.T, insp *asynq.Inspector) string {
	t.Helper()
	var id string
	waitFor(t, 20*time.Second, "the worker to list its task", func() bool {
		servers, err := insp.Servers()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			for _, w := range s.ActiveWorkers {
				id = w.TaskID
			}
		}
		return id != ""
	})
	return id
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s within %v", what, d)
}

// counted counts rescues by type.
type counted map[string]int

func (c counted) Rescued(taskType string) { c[taskType]++ }

// fakeAsynq is asynq's state as a rescuer reads it, set look by look.
type fakeAsynq struct {
	down     bool // Redis unreachable
	servers  []*asynq.ServerInfo
	active   []*asynq.TaskInfo
	enqueued []string
}

func (a *fakeAsynq) Servers() ([]*asynq.ServerInfo, error) {
	if a.down {
		return nil, errors.New("redis: connection refused")
	}
	return a.servers, nil
}

func (a *fakeAsynq) ListActiveTasks(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
	return a.active, nil
}

func (a *fakeAsynq) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			a.enqueued = append(a.enqueued, o.Value().(string))
		}
	}
	return &asynq.TaskInfo{}, nil
}

// Which active task is an orphan, look after look: the table is the
// rescuer's rule, apart from asynq.
func TestRescuerRule(t *testing.T) {
	payload, _ := json.Marshal(tasks.DeliveryPayload{ID: "VE" + strings.Repeat("a", 32), Attempt: 1})
	task := &asynq.TaskInfo{ID: "T", Queue: tasks.QueueName, Type: tasks.TypeDeliver, Payload: payload}
	server := func(id string, tasks ...string) *asynq.ServerInfo {
		s := &asynq.ServerInfo{ID: id}
		for _, t := range tasks {
			s.ActiveWorkers = append(s.ActiveWorkers, &asynq.WorkerInfo{TaskID: t})
		}
		return s
	}
	type look struct {
		after   time.Duration // since the first look
		servers []*asynq.ServerInfo
		active  bool
		rescue  bool
		down    bool // Redis unreachable for this look
	}
	for _, tc := range []struct {
		name  string
		looks []look
	}{
		{"listed by a live server", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{30 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false}}},
		{"its server died: missing on two looks", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{10 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{11 * time.Second, []*asynq.ServerInfo{server("B")}, true, false, false},
			{11500 * time.Millisecond, []*asynq.ServerInfo{server("B")}, true, false, false},
			{12 * time.Second, []*asynq.ServerInfo{server("B")}, true, true, false},
			{13 * time.Second, []*asynq.ServerInfo{server("B")}, true, false, false}}},
		{"its server missing from one look only (a failed read)", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{10 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{11 * time.Second, nil, true, false, false},
			{12 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{13 * time.Second, nil, true, false, false},
			{14 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{40 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false}}},
		{"its server is gone, but Redis was away", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{time.Second, nil, true, false, true},
			{12 * time.Second, nil, true, false, false},
			{17 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{40 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false}}},
		{"its server stays gone after Redis came back", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{time.Second, nil, true, false, true},
			{12 * time.Second, nil, true, false, false},
			{21 * time.Second, nil, true, false, false},
			{22 * time.Second, nil, true, true, false}}},
		{"its server died just after the first look", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{time.Second, nil, true, false, false},
			{9 * time.Second, nil, true, false, false},
			{10 * time.Second, nil, true, true, false}}},
		{"just started, listed at the next heartbeat", []look{
			{0, []*asynq.ServerInfo{server("A")}, true, false, false},
			{5 * time.Second, []*asynq.ServerInfo{server("A")}, true, false, false},
			{6 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{20 * time.Second, []*asynq.ServerInfo{server("A", "T")}, true, false, false}}},
		{"never listed: two heartbeats", []look{
			{0, nil, true, false, false},
			{9 * time.Second, nil, true, false, false},
			{10 * time.Second, nil, true, true, false}}},
		{"done before anyone listed it", []look{
			{0, nil, true, false, false},
			{time.Second, nil, false, false, false},
			{10 * time.Second, nil, true, false, false}}},
		{"rescued once while it stays active", []look{
			{0, []*asynq.ServerInfo{server("A", "T")}, true, false, false},
			{10 * time.Second, nil, true, false, false},
			{12 * time.Second, nil, true, true, false},
			{time.Minute, nil, true, false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &fakeAsynq{}
			start := time.Unix(1_800_000_000, 0)
			var now time.Time
			obs, rescues := counted{}, 0
			clock := func() time.Time { return now }
			storeNow := func(context.Context) (time.Time, error) { return now, nil }
			r := tasks.NewRescuer(a, a, []string{tasks.QueueName}, clock, storeNow, otptest.Logger(t), obs)
			for i, l := range tc.looks {
				now, a.servers, a.active, a.enqueued, a.down = start.Add(l.after), l.servers, nil, nil, l.down
				if l.active {
					a.active = []*asynq.TaskInfo{task}
				}
				n, err := r.Look(context.Background())
				if (err != nil) != l.down || (n == 1) != l.rescue || len(a.enqueued) != n {
					t.Fatalf("look %d: rescued %d (%v), want %v", i, n, err, l.rescue)
				}
				if n == 1 && a.enqueued[0] != "T~r" {
					t.Fatalf("rescue id %q", a.enqueued[0])
				}
				rescues += n
			}
			if obs[tasks.TypeDeliver] != rescues {
				t.Fatalf("counted %v, rescued %d", obs, rescues)
			}
		})
	}
}
