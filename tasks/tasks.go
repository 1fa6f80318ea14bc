// Package tasks is the asynq adapter: the task types and payloads, the
// queue the api enqueues into (otp.Queue), the retry policy, and the
// handlers the worker runs, each of which parses its payload, asks
// otp.Service and tells asynq what to do next. It holds no rule of its own.
package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// The task types. A delivery task hands one send attempt, on any channel,
// to the gateway; typeSendSMS is its name from before WhatsApp and calls,
// still served so that tasks queued by an older api run after an upgrade.
const (
	TypeDeliver     = "otp:deliver"
	typeSendSMS     = "otp:send_sms"
	TypeStepTimeout = "otp:workflow_step"   // a workflow step's channel timeout
	TypeExpire      = "otp:expire"          // a verification's expired event
	TypeWebhook     = "otp:webhook"         // one verification event to deliver
	TypeBlockEnd    = "otp:fraud_block_end" // a fraud block's end, to report
	TypeRevoke      = "otp:revoke"          // take back a message nobody needs any more
)

// RevokePayload names a gateway's message to take back.
type RevokePayload struct {
	Channel string `json:"channel"`
	SID     string `json:"sid"`
}

// QueueName is the asynq queue deliveries go through (with QUEUE_SHARDS,
// the first of its shards' names; see Shards).
const QueueName = "otp"

const timeoutGrace = 5 * time.Second

// MaxRetry bounds retries; the task deadline (the code's expiry) usually
// ends them first.
const MaxRetry = 20

// DeliveryPayload names one send attempt and carries no code: the worker
// reads the sealed code from the store.
type DeliveryPayload struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	// Channel shows in the dashboard; the worker trusts the store's instead.
	Channel string `json:"channel,omitempty"`
	// Tenant owns the verification ("" the default tenant, and every task
	// queued before TENANTS_FILE existed).
	Tenant string `json:"t,omitempty"`
	// Orphaned is set on a rescue (Rescuer): when, in unix ms by the
	// store's clock, the run that held this attempt was judged dead.
	Orphaned int64 `json:"o,omitempty"`
}

// validTenant accepts a payload's tenant: none, or a name a tenant may
// have (whether it is configured is the worker's to say).
func validTenant(t string) bool { return t == "" || otp.ValidTenantName(t) }

// taskID prefixes a verification's task id with its tenant: ids are random,
// but a task id that two tenants shared would drop one's task.
func taskID(tenant, id string) string {
	if tenant == "" {
		return id
	}
	return tenant + "/" + id
}

// NewDeliveryTask builds the task of one send attempt, on queue. Its
// TaskID makes the attempt enqueue at most once. A run may last as long as
// the code has left; that is a timeout, not a deadline, because asynq
// would judge a deadline by the worker host's clock, and one running ahead
// would cut sends short. Retries after expiry stop at the claim, which
// reads the store's clock.
func NewDeliveryTask(job otp.DeliveryJob, tenant, queue string) (*asynq.Task, []asynq.Option, error) {
	payload, err := json.Marshal(DeliveryPayload{ID: job.ID, Attempt: job.Attempt, Channel: job.Channel, Tenant: tenant})
	if err != nil {
		return nil, nil, err
	}
	return asynq.NewTask(TypeDeliver, payload), []asynq.Option{
		asynq.Queue(queue),
		asynq.TaskID(taskID(tenant, job.ID+":"+strconv.Itoa(job.Attempt))),
		// A little longer: the service itself stops at expiry and ends the
		// task quietly, rather than have asynq cancel it mid-request and
		// archive it as a failure.
		asynq.Timeout(job.ValidFor + timeoutGrace),
		asynq.MaxRetry(MaxRetry),
	}, nil
}

// IsDelivery reports whether a task type is a delivery's, by its name of
// today or of before.
func IsDelivery(taskType string) bool { return taskType == TypeDeliver || taskType == typeSendSMS }

// ParseDeliveryPayload decodes and validates a payload.
func ParseDeliveryPayload(b []byte) (DeliveryPayload, error) {
	var p DeliveryPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("tasks: bad payload: %w", err)
	}
	if _, ok := otp.TagOfID(p.ID); !ok || p.Attempt < 1 || (p.Channel != "" && !otp.KnownChannel(p.Channel)) || !validTenant(p.Tenant) || p.Orphaned < 0 {
		return p, errors.New("tasks: bad payload: invalid id, attempt, tenant or orphan time")
	}
	return p, nil
}

// StepPayload names a workflow step of a verification.
type StepPayload struct {
	ID     string `json:"id"`
	Step   int    `json:"step"`
	Tenant string `json:"t,omitempty"`
}

// ParseStepPayload decodes and validates a step payload.
func ParseStepPayload(b []byte) (StepPayload, error) {
	var p StepPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("tasks: bad payload: %w", err)
	}
	if _, ok := otp.TagOfID(p.ID); !ok || p.Step < 1 || p.Step > otp.MaxWorkflowSteps || !validTenant(p.Tenant) {
		return p, errors.New("tasks: bad payload: invalid id, step or tenant")
	}
	return p, nil
}

// BlockEndPayload names a fraud block and the end it was made with.
type BlockEndPayload struct {
	Name  string `json:"name"`
	Until int64  `json:"until"` // unix ms
}

// ParseBlockEndPayload decodes and validates a block's end.
func ParseBlockEndPayload(b []byte) (BlockEndPayload, error) {
	var p BlockEndPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("tasks: bad payload: %w", err)
	}
	if _, err := otp.ParseBlockName(p.Name); err != nil || p.Until <= 0 {
		return p, errors.New("tasks: bad payload: invalid block name or end")
	}
	return p, nil
}

// expirePayload names the verification whose expired event is due.
type expirePayload struct {
	ID     string `json:"id"`
	Tenant string `json:"t,omitempty"`
}
