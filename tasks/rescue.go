package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// Why a rescuer: a worker killed mid-task leaves the task "active" in
// asynq under a lease of 30 s, which asynq's recoverer honours only 30 s
// after it lapsed and looks for once a minute: the code of an SMS that was
// in flight goes out a minute or two late, often after the user gave up.
// Every asynq server lists the tasks it runs in Redis at each heartbeat
// (every 5 s) under a key that dies 10 s after the last one, so a task
// that no live server lists is an orphan well before its lease says so.
const (
	// RescueInterval is how often a worker looks for orphans.
	RescueInterval = time.Second
	// unlistedGrace is how long a task may stay active without a live
	// server listing it when none ever did: a live server lists a task it
	// started at its next heartbeat, within 5 s, and one whose finish
	// failed to reach Redis is retried by asynq's syncer every 5 s.
	unlistedGrace = 10 * time.Second
	// goneFor is how long a server that listed a task must stay missing,
	// two looks at least: asynq's listing skips a server whose key it
	// failed to read, so one look without it is no proof.
	goneFor = RescueInterval
	// maxRescues bounds a chain of rescues (a task that kills its worker
	// would otherwise be rescued across the fleet for ever).
	maxRescues = 2
	// rescueRetention keeps a rescue's task id taken after it ran, for as
	// long as asynq may leave the orphan active (its lease, its grace and
	// its recoverer's tick), so no rescuer enqueues a second copy.
	rescueRetention = 3 * time.Minute
	// serverTTL is how long asynq keeps a server listed after its last
	// heartbeat.
	serverTTL = 10 * time.Second
	// rescueSuffix marks a rescue's task id.
	rescueSuffix = "~r"
)

// Inspector is what the rescuer reads of asynq (asynq.Inspector).
type Inspector interface {
	Servers() ([]*asynq.ServerInfo, error)
	ListActiveTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
}

// Enqueuer enqueues a rescue (asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// RescueObserver counts rescues by task type.
type RescueObserver interface{ Rescued(taskType string) }

// Rescuer re-enqueues the tasks of dead workers, on the send queues, as new
// tasks with the same type and payload. Every task here is safe to run
// twice, and asynq still recovers the orphan itself later: a delivery's
// claim then finds the message sent, a step its workflow moved on. A
// rescued delivery carries when its run was judged dead, so it may take
// that run's claim over at once instead of waiting for it to go stale.
//
// A worker cut off from Redis for over 10 s, alive, looks dead: its send
// may then go twice, the bound a stale claim already has.
type Rescuer struct {
	insp   Inspector
	client Enqueuer
	queues []string
	now    func() time.Time
	// storeNow is the store's clock, which stamps a rescued delivery:
	// its claim compares that stamp with the dead run's claim, made on
	// the same clock, whatever this host's clock says.
	storeNow func(context.Context) (time.Time, error)
	log      *slog.Logger
	obs      RescueObserver
	// What earlier looks saw, by task id.
	owner    map[string]string    // the server that listed it
	gone     map[string]time.Time // first seen with that server missing
	unlisted map[string]time.Time // first seen with no live server listing it
	rescued  map[string]bool      // rescued already (while still active)
	// reachable is since when every look reached Redis. A server whose
	// heartbeats failed because Redis was away is not dead: until Redis
	// has been back for longer than a server stays listed, only a task
	// no live server lists for a whole heartbeat is an orphan.
	reachable time.Time
}

// NewRescuer watches queues; now is this host's clock and storeNow the
// store's; obs (nil: none) counts.
func NewRescuer(insp Inspector, client Enqueuer, queues []string, now func() time.Time,
	storeNow func(context.Context) (time.Time, error), log *slog.Logger, obs RescueObserver) *Rescuer {
	return &Rescuer{insp: insp, client: client, queues: queues, now: now, storeNow: storeNow, log: log, obs: obs,
		owner: map[string]string{}, gone: map[string]time.Time{}, unlisted: map[string]time.Time{},
		rescued: map[string]bool{}}
}

// Run looks every interval until ctx ends.
func (r *Rescuer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Look(ctx); err != nil {
				r.log.WarnContext(ctx, "orphan rescue: cannot read asynq's state", "err", err)
			}
		}
	}
}

// Look rescues the orphans it finds now, and answers how many.
func (r *Rescuer) Look(ctx context.Context) (int, error) {
	live, listed, active, err := r.read()
	if err != nil {
		// Start over: what was unlisted before the outage may be listed
		// again once the servers' next heartbeats reach Redis.
		r.reachable = time.Time{}
		clear(r.unlisted)
		clear(r.gone)
		return 0, err
	}
	now := r.now()
	if r.reachable.IsZero() {
		r.reachable = now
	}
	n := 0
	for _, t := range r.orphans(now, live, listed, active) {
		if err := r.rescue(ctx, t); err != nil {
			r.log.WarnContext(ctx, "orphan rescue: cannot enqueue", "task", t.ID, "type", t.Type, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// read is one look at asynq: the live servers, the server listing each
// task, and the active tasks of the send queues.
func (r *Rescuer) read() (live map[string]bool, listed map[string]string, active []*asynq.TaskInfo, err error) {
	servers, err := r.insp.Servers()
	if err != nil {
		return nil, nil, nil, err
	}
	live, listed = map[string]bool{}, map[string]string{}
	for _, s := range servers {
		live[s.ID] = true
		for _, w := range s.ActiveWorkers {
			listed[w.TaskID] = s.ID
		}
	}
	for _, q := range r.queues {
		ts, err := r.activeIn(q)
		if err != nil {
			return nil, nil, nil, err
		}
		active = append(active, ts...)
	}
	return live, listed, active, nil
}

// activeIn lists every active task of queue, page by page.
func (r *Rescuer) activeIn(queue string) ([]*asynq.TaskInfo, error) {
	const size = 500
	var all []*asynq.TaskInfo
	for page := 1; ; page++ {
		ts, err := r.insp.ListActiveTasks(queue, asynq.PageSize(size), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil, nil // nothing ever enqueued there
		}
		if err != nil {
			return nil, err
		}
		all = append(all, ts...)
		if len(ts) < size {
			return all, nil
		}
	}
}

// orphans updates what the rescuer remembers with one look (live servers,
// the server listing each task, the active tasks) and answers the active
// tasks to rescue now: those a server listed that is no longer live (with
// Redis reachable meanwhile), and those no live server listed for longer
// than a heartbeat.
func (r *Rescuer) orphans(now time.Time, live map[string]bool, listed map[string]string,
	active []*asynq.TaskInfo) []*asynq.TaskInfo {
	var out []*asynq.TaskInfo
	seen := make(map[string]bool, len(active))
	for _, t := range active {
		seen[t.ID] = true
		if s, ok := listed[t.ID]; ok {
			r.owner[t.ID] = s
			delete(r.unlisted, t.ID)
			delete(r.gone, t.ID)
			continue
		}
		if r.rescued[t.ID] {
			continue
		}
		if strings.Count(t.ID, rescueSuffix) >= maxRescues {
			r.rescued[t.ID] = true
			r.log.Warn("orphan rescue: not rescuing a task rescued twice already; asynq's recovery will retry it",
				"task", t.ID, "type", t.Type)
			continue
		}
		if now.Sub(since(r.unlisted, t.ID, now)) >= unlistedGrace || r.ownerDied(now, t.ID, live) {
			out = append(out, t)
		}
	}
	// Forget what is no longer active: done, or recovered by asynq.
	forget(r.owner, seen)
	forget(r.gone, seen)
	forget(r.unlisted, seen)
	forget(r.rescued, seen)
	return out
}

// ownerDied says whether the server that listed task id has been missing
// for goneFor, with Redis reachable for longer than a dead server stays
// listed (so its heartbeats could reach Redis).
func (r *Rescuer) ownerDied(now time.Time, id string, live map[string]bool) bool {
	s, owned := r.owner[id]
	if !owned || live[s] {
		delete(r.gone, id)
		return false
	}
	return now.Sub(since(r.gone, id, now)) >= goneFor && now.Sub(r.reachable) >= serverTTL
}

// since is when m first saw id, recording now if it had not.
func since(m map[string]time.Time, id string, now time.Time) time.Time {
	first, ok := m[id]
	if !ok {
		m[id] = now
		return now
	}
	return first
}

// forget deletes from m the ids not in keep.
func forget[V any](m map[string]V, keep map[string]bool) {
	for id := range m {
		if !keep[id] {
			delete(m, id)
		}
	}
}

// rescue enqueues a copy of orphan t under a rescue id, once.
func (r *Rescuer) rescue(ctx context.Context, t *asynq.TaskInfo) error {
	payload := t.Payload
	if IsDelivery(t.Type) {
		p, err := ParseDeliveryPayload(t.Payload)
		if err != nil {
			return err
		}
		at, err := r.storeNow(ctx)
		if err != nil {
			return err
		}
		p.Orphaned = at.UnixMilli()
		if payload, err = json.Marshal(p); err != nil {
			return err
		}
	}
	opts := []asynq.Option{asynq.Queue(t.Queue), asynq.TaskID(t.ID + rescueSuffix),
		asynq.MaxRetry(t.MaxRetry), asynq.Retention(rescueRetention)}
	if t.Timeout > 0 {
		opts = append(opts, asynq.Timeout(t.Timeout))
	}
	if !t.Deadline.IsZero() {
		opts = append(opts, asynq.Deadline(t.Deadline))
	}
	_, err := r.client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(t.Type, payload, t.Headers), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return err
	}
	r.rescued[t.ID] = true
	if r.obs != nil && err == nil {
		r.obs.Rescued(t.Type)
	}
	r.log.WarnContext(ctx, "rescued a task whose worker died mid-run", "task", t.ID, "type", t.Type, "queue", t.Queue,
		"already_rescued", err != nil)
	return nil
}
