package otptest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpd/otpd/otp"
)

// Queue records the jobs the service hands the worker, once each as
// asynq's TaskIDs make them, and passes them on to Next (nil: nowhere).
// Fail makes every delivery fail to enqueue, FailStep the scheduling of
// that step.
type Queue struct {
	Next     otp.Queue
	Fail     atomic.Bool
	FailStep atomic.Int32

	mu        sync.Mutex
	jobs      []otp.DeliveryJob
	steps     []string // "id:step"
	blockEnds []string // "name@until"
	revokes   []string // "channel:sid"
}

// ErrDown is the failing queue's error.
var ErrDown = errors.New("otptest: the queue is down")

// EnqueueDelivery implements otp.Queue.
func (q *Queue) EnqueueDelivery(ctx context.Context, j otp.DeliveryJob) error {
	if q.Fail.Load() {
		return ErrDown
	}
	q.mu.Lock()
	if !slices.ContainsFunc(q.jobs, func(o otp.DeliveryJob) bool { return o.ID == j.ID && o.Attempt == j.Attempt }) {
		q.jobs = append(q.jobs, j)
	}
	q.mu.Unlock()
	if q.Next != nil {
		return q.Next.EnqueueDelivery(ctx, j)
	}
	return nil
}

// ScheduleStep implements otp.Queue.
func (q *Queue) ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error {
	if q.FailStep.Load() == int32(step) {
		return ErrDown
	}
	q.mu.Lock()
	if key := id + ":" + strconv.Itoa(step); !slices.Contains(q.steps, key) {
		q.steps = append(q.steps, key)
	}
	q.mu.Unlock()
	if q.Next != nil {
		return q.Next.ScheduleStep(ctx, id, step, in)
	}
	return nil
}

// ScheduleBlockEnd implements otp.Queue.
func (q *Queue) ScheduleBlockEnd(ctx context.Context, name string, until time.Time) error {
	q.mu.Lock()
	if key := name + "@" + strconv.FormatInt(until.UnixMilli(), 10); !slices.Contains(q.blockEnds, key) {
		q.blockEnds = append(q.blockEnds, key)
	}
	q.mu.Unlock()
	if q.Next != nil {
		return q.Next.ScheduleBlockEnd(ctx, name, until)
	}
	return nil
}

// BlockEnds are the fraud blocks' ends scheduled, as "name@unixms".
func (q *Queue) BlockEnds() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.blockEnds)
}

// Jobs are the deliveries enqueued, oldest first.
func (q *Queue) Jobs() []otp.DeliveryJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.jobs)
}

// Steps are the step timeouts scheduled, as "id:step", oldest first.
func (q *Queue) Steps() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.steps)
}

// EnqueueRevoke implements otp.Queue.
func (q *Queue) EnqueueRevoke(ctx context.Context, channel, sid string) error {
	q.mu.Lock()
	q.revokes = append(q.revokes, channel+":"+sid)
	q.mu.Unlock()
	if q.Next != nil {
		return q.Next.EnqueueRevoke(ctx, channel, sid)
	}
	return nil
}

// Revokes are the messages the service asked to take back, "channel:sid".
func (q *Queue) Revokes() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.revokes)
}
