// Package tasks defines the asynq task that delivers a verification's SMS:
// its type and payload, the queue the API enqueues into, and the handler the
// worker runs.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// TypeSendSMS is the task type of one send attempt, on any channel. The
// name predates WhatsApp and calls; it stays, so that tasks queued before
// an upgrade still run.
const TypeSendSMS = "otp:send_sms"

// StatusCallbackPath is the API route that receives Twilio's delivery
// reports; the worker sends PUBLIC_URL + this as each message's callback.
const StatusCallbackPath = "/v1/webhooks/twilio/status"

// QueueName is the asynq queue OTP sends go through.
const QueueName = "otp"

const timeoutGrace = 5 * time.Second

// MaxRetry bounds retries; the task deadline (the code's expiry) usually
// ends them first.
const MaxRetry = 20

// SendPayload is the task payload. It names the send attempt and carries no
// code: the worker reads the sealed code from Redis.
type SendPayload struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	// Channel shows in the dashboard; the handler trusts Redis's instead.
	Channel string `json:"channel,omitempty"`
}

// NewSendTask builds the task for one send attempt. Its TaskID makes the
// attempt enqueue at most once. A run may last as long as the code has left;
// that is a timeout, not a deadline, because asynq would judge a deadline by
// the worker host's clock, and one running ahead would cut sends short.
// Retries after expiry stop at the claim, which reads the Redis clock.
func NewSendTask(job otp.SendJob) (*asynq.Task, []asynq.Option, error) {
	return newSendTask(job, QueueName)
}

func newSendTask(job otp.SendJob, queue string) (*asynq.Task, []asynq.Option, error) {
	payload, err := json.Marshal(SendPayload{ID: job.ID, Attempt: job.Attempt, Channel: job.Channel})
	if err != nil {
		return nil, nil, err
	}
	return asynq.NewTask(TypeSendSMS, payload), []asynq.Option{
		asynq.Queue(queue),
		asynq.TaskID(job.ID + ":" + strconv.Itoa(job.Attempt)),
		// A little longer: the handler itself stops at expiry and ends the
		// task quietly, rather than have asynq cancel it mid-request and
		// archive it as a failure.
		asynq.Timeout(job.ValidFor + timeoutGrace),
		asynq.MaxRetry(MaxRetry),
	}, nil
}

// ParseSendPayload decodes and validates a payload.
func ParseSendPayload(b []byte) (SendPayload, error) {
	var p SendPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("tasks: bad payload: %w", err)
	}
	if _, ok := otp.TagOfID(p.ID); !ok || p.Attempt < 1 || (p.Channel != "" && !otp.KnownChannel(p.Channel)) {
		return p, errors.New("tasks: bad payload: invalid id or attempt")
	}
	return p, nil
}

// Queue enqueues send jobs with asynq; it implements otp.Queue.
type Queue struct {
	client *asynq.Client
	shards Shards
}

// NewQueue wraps an asynq client; its tasks go to QueueName.
func NewQueue(c *asynq.Client) *Queue { return &Queue{client: c, shards: NewShards(1)} }

// WithShards spreads the tasks over QUEUE_SHARDS queues by number.
func (q *Queue) WithShards(s Shards) *Queue { q.shards = s; return q }

// EnqueueSend enqueues one send attempt. An attempt already enqueued (a
// retried request whose first enqueue did succeed) is not an error.
func (q *Queue) EnqueueSend(ctx context.Context, job otp.SendJob) error {
	task, opts, err := newSendTask(job, q.shards.For(job.ID))
	if err != nil {
		return err
	}
	_, err = q.client.EnqueueContext(ctx, task, opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// RetryDelay is the backoff between send attempts: seconds, not asynq's
// minutes-scale default, because a code is useless after OTP_TTL. It grows
// 1s, 2s, 4s … capped at 30s, with ±25% jitter so a Twilio outage does not
// end in a synchronized stampede; a gateway's Retry-After wins when longer.
// A deferred task (rate limit, busy claim) waits exactly as long as asked.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var de *DeferError
	if errors.As(err, &de) {
		return max(de.Wait, 10*time.Millisecond)
	}
	base := backoff(n)
	d := base*3/4 + time.Duration(jitter(int64(base/2)))
	if ra := retryAfter(err); ra > 0 {
		// asynq schedules retries in whole Unix seconds, rounding down, so
		// a retry may run up to 1s early; Twilio's Retry-After is a floor.
		d = max(d, ra+time.Second)
	}
	return d
}

// minRetryDelay is the shortest delay RetryDelay can return for n and err.
func minRetryDelay(n int, err error) time.Duration {
	return max(backoff(n)*3/4, retryAfter(err))
}

func backoff(n int) time.Duration { return min(time.Second<<min(n, 5), 30*time.Second) }

func retryAfter(err error) time.Duration {
	var se *otp.SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
