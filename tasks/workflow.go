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

// TypeStepTimeout moves a workflow on when a step's channel timeout passed
// without approval; TypeExpire emits a verification's expired event.
const (
	TypeStepTimeout = "otp:workflow_step"
	TypeExpire      = "otp:expire"
)

// StepPayload names a workflow step of a verification.
type StepPayload struct {
	ID   string `json:"id"`
	Step int    `json:"step"`
}

// ScheduleStep schedules the timeout of a workflow step. Its TaskID makes a
// step's timeout exist once, so a retry or a second worker never doubles a
// step; asynq keeps it in Redis across a crash of every worker.
func (q *Queue) ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error {
	payload, _ := json.Marshal(StepPayload{ID: id, Step: step})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeStepTimeout, payload),
		asynq.Queue(q.shards.For(id)), asynq.TaskID(id+":s"+strconv.Itoa(step)), asynq.ProcessIn(in),
		asynq.MaxRetry(MaxRetry), asynq.Timeout(time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// ParseStepPayload decodes and validates a step payload.
func ParseStepPayload(b []byte) (StepPayload, error) {
	var p StepPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("tasks: bad payload: %w", err)
	}
	if _, ok := otp.TagOfID(p.ID); !ok || p.Step < 1 || p.Step > otp.MaxWorkflowSteps {
		return p, errors.New("tasks: bad payload: invalid id or step")
	}
	return p, nil
}

// Workflows is what the worker's workflow and expiry tasks ask of the
// service (otp.Service).
type Workflows interface {
	StepTimedOut(ctx context.Context, id string, step int) error
	Expired(ctx context.Context, id string) (bool, error)
}

// StepHandler runs a step's timeout: the workflow moves on unless it
// moved already or the verification ended, which the step script checks.
type StepHandler struct{ w Workflows }

// NewStepHandler wires the handler.
func NewStepHandler(w Workflows) *StepHandler { return &StepHandler{w: w} }

// ProcessTask implements asynq.Handler.
func (h *StepHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := ParseStepPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err := h.w.StepTimedOut(ctx, p.ID, p.Step); err != nil && !errors.Is(err, otp.ErrNotFound) {
		return err
	}
	return nil
}

// ExpireHandler emits a verification's expired event at its expiry.
type ExpireHandler struct{ w Workflows }

// NewExpireHandler wires the handler.
func NewExpireHandler(w Workflows) *ExpireHandler { return &ExpireHandler{w: w} }

// ProcessTask implements asynq.Handler.
func (h *ExpireHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p struct{ ID string }
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("tasks: bad payload: %w: %w", err, asynq.SkipRetry)
	}
	done, err := h.w.Expired(ctx, p.ID)
	switch {
	case errors.Is(err, otp.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !done:
		// This host's clock ran ahead of Redis's: ask again shortly.
		return &DeferError{Wait: time.Second, Why: "not expired yet"}
	}
	return nil
}
