package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// Queue enqueues the service's jobs with asynq; it implements otp.Queue.
type Queue struct {
	client *asynq.Client
	shards Shards
	tenant string // whose verifications' tasks these are ("" the default)
}

// NewQueue wraps an asynq client; its tasks go to shards' queues (one
// shard: QueueName).
func NewQueue(c *asynq.Client, shards Shards) *Queue { return &Queue{client: c, shards: shards} }

// ForTenant is the queue of one tenant's verifications: their tasks name
// the tenant, so the worker asks that tenant's service.
func (q *Queue) ForTenant(name string) *Queue {
	c := *q
	c.tenant = name
	return &c
}

// EnqueueDelivery enqueues one send attempt. An attempt already enqueued
// (a retried request whose first enqueue did succeed) is not an error.
func (q *Queue) EnqueueDelivery(ctx context.Context, job otp.DeliveryJob) error {
	task, opts, err := NewDeliveryTask(job, q.tenant, q.shards.For(job.ID))
	if err != nil {
		return err
	}
	return enqueued(q.client.EnqueueContext(ctx, task, opts...))
}

// ScheduleStep schedules the timeout of a workflow step. Its TaskID makes a
// step's timeout exist once, so a retry or a second worker never doubles a
// step; asynq keeps it in Redis across a crash of every worker.
func (q *Queue) ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error {
	payload, _ := json.Marshal(StepPayload{ID: id, Step: step, Tenant: q.tenant})
	return enqueued(q.client.EnqueueContext(ctx, asynq.NewTask(TypeStepTimeout, payload),
		asynq.Queue(q.shards.For(id)), asynq.TaskID(taskID(q.tenant, id+":s"+strconv.Itoa(step))), asynq.ProcessIn(in),
		asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Minute)))
}

// ScheduleBlockEnd has a worker report a fraud block's end, a second after
// it, on the first shard's queue. Its TaskID makes it exist once per block.
func (q *Queue) ScheduleBlockEnd(ctx context.Context, name string, until time.Time) error {
	payload, _ := json.Marshal(BlockEndPayload{Name: name, Until: until.UnixMilli()})
	return enqueued(q.client.EnqueueContext(ctx, asynq.NewTask(TypeBlockEnd, payload),
		asynq.Queue(q.shards.Names()[0]), asynq.TaskID("fraud-end:"+name+":"+strconv.FormatInt(until.UnixMilli(), 10)),
		asynq.ProcessAt(until.Add(time.Second)), asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Minute)))
}

// EnqueueRevoke has a worker take back a message, once (its TaskID).
func (q *Queue) EnqueueRevoke(ctx context.Context, channel, sid string) error {
	payload, _ := json.Marshal(RevokePayload{Channel: channel, SID: sid})
	return enqueued(q.client.EnqueueContext(ctx, asynq.NewTask(TypeRevoke, payload),
		asynq.Queue(q.shards.Names()[0]), asynq.TaskID("revoke:"+channel+":"+sid),
		asynq.MaxRetry(5), asynq.Timeout(time.Minute), asynq.Retention(time.Hour)))
}

// scheduleExpiry queues the check that emits a verification's expired
// event, a second after the code's expiry, on its delivery's shard.
func (q *Queue) scheduleExpiry(ctx context.Context, id string, in time.Duration) error {
	payload, _ := json.Marshal(expirePayload{ID: id, Tenant: q.tenant})
	return enqueued(q.client.EnqueueContext(ctx, asynq.NewTask(TypeExpire, payload), asynq.Queue(q.shards.For(id)),
		asynq.TaskID(taskID(q.tenant, id+":expire")), asynq.ProcessIn(in+time.Second), asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Minute)))
}

// enqueued is an enqueue's error, where a task that exists already (same
// TaskID) is none: every task of this package is idempotent by its id.
func enqueued(_ *asynq.TaskInfo, err error) error {
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}
