package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// primaryWithReplica starts a primary of its own and one replica of it,
// both stopped when the test ends.
func primaryWithReplica(t *testing.T) (primary, replica *redistest.Server) {
	t.Helper()
	primary, err := redistest.Start("--repl-diskless-sync-delay", "0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	if replica, err = redistest.StartReplica(primary); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)
	return primary, replica
}

func sortedKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// With REDIS_MIN_REPLICAS 1, a start returns once the replica has every
// write it made: the record and asynq's task. With the replica paused, the
// start is refused with ErrNotReplicated after the timeout, and undone
// before any task was queued: nothing is left that a worker could send.
func TestStartWaitsForReplica(t *testing.T) {
	ctx := context.Background()
	primary, replica := primaryWithReplica(t)
	f := otptest.New(t, primary, app.Options{MinReplicas: 1, MinReplicasTimeout: 200 * time.Millisecond})
	rc := replica.Client()
	defer rc.Close()
	pc := primary.Client()
	defer pc.Close()

	v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	got, want := sortedKeys(t, rc), sortedKeys(t, pc)
	if !slices.Equal(got, want) || !slices.ContainsFunc(got, func(k string) bool { return strings.Contains(k, ":t:") }) {
		t.Fatalf("after the start returned, the replica has %v, the primary %v", got, want)
	}

	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	defer replica.Resume()
	f.Clock.Advance(time.Minute) // past the cooldown: a resend
	began := time.Now()
	_, _, err = f.Svc.Start(ctx, otp.StartRequest{To: num})
	if !errors.Is(err, otp.ErrNotReplicated) || !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("resend with the replica paused: %v, want ErrNotReplicated", err)
	}
	if took := time.Since(began); took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("the refusal took %s, want about the 200ms timeout", took)
	}
	if after, _ := f.Svc.Get(ctx, v.ID); after.SendAttempts != 1 {
		t.Errorf("refused resend not rolled back: %d send attempts", after.SendAttempts)
	}
	if jobs := f.Queue.Jobs(); len(jobs) != 1 {
		t.Errorf("a refused send queued a task: %+v", jobs)
	}
	// A new verification, refused alike, leaves no verification.
	_, _, err = f.Svc.Start(ctx, otp.StartRequest{To: "+14155550123"})
	if !errors.Is(err, otp.ErrNotReplicated) {
		t.Fatalf("start with the replica paused: %v", err)
	}
	if n := len(f.Queue.Jobs()); n != 1 {
		t.Errorf("%d tasks queued, want the first start's alone", n)
	}
	if keys, _ := pc.Keys(ctx, "otp:{*").Result(); len(keys) != 1 {
		t.Errorf("refused start left records: %v", keys)
	}

	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
		t.Fatalf("resend once the replica is back: %v", err)
	}
}

// failAfter is a Replication whose nth wait, and every later one, fails.
type failAfter struct {
	n     int32
	calls atomic.Int32
}

func (r *failAfter) Wait(context.Context, string) error {
	if r.calls.Add(1) >= r.n {
		return otp.ErrNotReplicated
	}
	return nil
}

// A wait that fails after the enqueue (the replica lost in that moment)
// undoes the start too: the task is queued, but its claim finds the
// attempt rolled back and sends nothing.
func TestNotReplicatedAfterEnqueueIsRolledBack(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svc := f.With(f.Policy, func(d *otp.Deps) { d.Replication = &failAfter{n: 2} })
	if _, _, err := svc.Start(ctx, otp.StartRequest{To: num}); !errors.Is(err, otp.ErrNotReplicated) {
		t.Fatalf("want ErrNotReplicated, got %v", err)
	}
	jobs := f.Queue.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("jobs %+v, want the one queued before the second wait", jobs)
	}
	c, err := f.Store.Claim(ctx, jobs[0].ID, jobs[0].Attempt, time.Minute, time.Time{})
	if err != nil || c.Outcome != otp.ClaimSkip {
		t.Fatalf("claim of the refused start's task: %+v %v, want a skip", c, err)
	}
}

// claimDuring is a Replication whose second wait fails after a worker
// claimed the queued attempt meanwhile.
type claimDuring struct {
	calls atomic.Int32
	claim func() error
}

func (r *claimDuring) Wait(context.Context, string) error {
	if r.calls.Add(1) < 2 {
		return nil
	}
	if err := r.claim(); err != nil {
		return err
	}
	return otp.ErrNotReplicated
}

// A worker that claimed the send during the second wait is sending it: the
// start stands and is answered as accepted, for a new verification and for
// a resend, rather than a 503 whose retry would send the user a second code
// (and whose undo would refund a send that went).
func TestNotReplicatedButClaimedStands(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rep := &claimDuring{}
	rep.claim = func() error {
		jobs := f.Queue.Jobs()
		j := jobs[len(jobs)-1]
		c, err := f.Store.Claim(ctx, j.ID, j.Attempt, time.Minute, time.Time{})
		if err == nil && c.Outcome != otp.ClaimSend {
			err = fmt.Errorf("claim %+v", c)
		}
		return err
	}
	svc := f.With(f.Policy, func(d *otp.Deps) { d.Replication = rep })
	v, created, err := svc.Start(ctx, otp.StartRequest{To: num})
	if err != nil || !created {
		t.Fatalf("start claimed during the wait: %v", err)
	}
	f.Clock.Advance(testPolicy.Cooldown)
	rep.calls.Store(0)
	if again, _, err := svc.Start(ctx, otp.StartRequest{To: num}); err != nil || again.SendAttempts != 2 {
		t.Fatalf("resend claimed during the wait: %+v %v", again, err)
	}
	if got, err := f.Svc.Get(ctx, v.ID); err != nil || got.SendAttempts != 2 || got.Status != otp.StatusPending {
		t.Fatalf("after both: %+v %v", got, err)
	}
}

// A Redis Cluster is refused: one WAIT covers one primary.
func TestReplicationRefusesCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer c.Close()
	if _, err := redisstore.NewReplication(c, 1, time.Second); err == nil || !strings.Contains(err.Error(), "Cluster") {
		t.Fatalf("cluster client: %v", err)
	}
}

// BenchmarkStartWithReplica measures a send (Service.Start: the store's
// script, asynq's enqueue) on a primary with one local replica, without a
// wait and with REDIS_MIN_REPLICAS=1, and reports the median and the 99th
// percentile besides the mean: the cost docs/operations.md quotes.
func BenchmarkStartWithReplica(b *testing.B) {
	primary, err := redistest.Start("--repl-diskless-sync-delay", "0")
	if err != nil {
		b.Fatal(err)
	}
	defer primary.Close()
	replica, err := redistest.StartReplica(primary)
	if err != nil {
		b.Fatal(err)
	}
	defer replica.Close()
	for _, bc := range []struct {
		name string
		n    int
	}{{"off", 0}, {"min_replicas_1", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			f := otptest.New(b, primary, app.Options{MinReplicas: bc.n, MinReplicasTimeout: 500 * time.Millisecond})
			ctx := context.Background()
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				began := time.Now()
				if _, _, err := f.Svc.Start(ctx, otp.StartRequest{To: "+1415" + strconv.Itoa(2000000+i)}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(began))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
