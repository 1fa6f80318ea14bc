package otp

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// The events a customer's backend can subscribe to (WEBHOOK_URL).
const (
	EventApproved     = "verification.approved"
	EventCanceled     = "verification.canceled"
	EventExpired      = "verification.expired"
	EventMaxAttempts  = "verification.max_attempts_reached"
	EventNumberLocked = "number.locked"
	EventFailed       = "delivery.failed"
	EventDelivered    = "delivery.delivered"
	EventStepStarted  = "workflow.step_started"
	// The fraud guard's: a range or country blocked, and its block's end.
	EventFraudBlocked   = "fraud.blocked"
	EventFraudUnblocked = "fraud.unblocked"
)

// Event is something that happened to a verification, or a fraud block.
// It carries the verification as GET shows it, never its code.
type Event struct {
	// ID is stable for one happening (a retried request, a second worker,
	// a repeated callback give the same), so a receiver can de-duplicate.
	ID           string
	Type         string
	At           time.Time
	Verification Verification
	// Attempt or Step says which one a delivery or workflow event is about.
	Attempt, Step int
	// Block is a fraud event's block (no verification then), and Unblock
	// why it ended.
	Block   *FraudBlock
	Unblock FraudUnblock
}

// Events sends verification events to the customer's backend.
type Events interface {
	// Emit queues an event for delivery; the same ID twice is harmless.
	Emit(ctx context.Context, e Event) error
	// ScheduleExpiry has id's expired event emitted once its code has
	// expired, if it has not ended otherwise.
	ScheduleExpiry(ctx context.Context, id string, in time.Duration) error
}

type nopEvents struct{}

func (nopEvents) Emit(context.Context, Event) error                           { return nil }
func (nopEvents) ScheduleExpiry(context.Context, string, time.Duration) error { return nil }

// eventID names one happening of verification id: its type, and the
// attempt or step it is about.
func eventID(typ, id string, attempt, step int) string {
	s := "evt_" + id + "_" + typ
	if attempt > 0 {
		s += "_a" + strconv.Itoa(attempt)
	}
	if step > 0 {
		s += "_s" + strconv.Itoa(step)
	}
	return s
}

// fraudEventID names one happening of a fraud block: its type, the
// block's name and when it began (a block of the same name later is
// another).
func fraudEventID(typ string, b FraudBlock) string {
	return fraudEventPrefix + typ + "_" + b.Name() + "_" + strconv.FormatInt(b.Since.UnixMilli(), 10)
}

const fraudEventPrefix = "evtf_"

// EventTypeOfID is the type named in an event id ("" if id is not one):
// what a queue that holds only ids can label a dropped event with.
func EventTypeOfID(id string) string {
	if rest, ok := strings.CutPrefix(id, fraudEventPrefix); ok {
		typ, _, _ := strings.Cut(rest, "_")
		return typ
	}
	rest, ok := strings.CutPrefix(id, "evt_")
	if !ok || len(rest) < IDLen+2 || rest[IDLen] != '_' {
		return ""
	}
	typ := rest[IDLen+1:]
	for _, suffix := range []string{"_s", "_a"} {
		if i := strings.LastIndex(typ, suffix); i > 0 && allDigits(typ[i+2:]) {
			typ = typ[:i]
		}
	}
	return typ
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// emit queues an event. A failure is logged, not returned: the request
// that caused the event has succeeded, and must answer so.
func (s *Service) emit(ctx context.Context, typ string, v Verification, attempt, step int) {
	e := Event{ID: eventID(typ, v.ID, attempt, step), Type: typ, At: s.d.Now().UTC(),
		Verification: v, Attempt: attempt, Step: step}
	if err := s.d.Events.Emit(context.WithoutCancel(ctx), e); err != nil {
		s.d.Log.ErrorContext(ctx, "queue a verification event", "event", typ, "verification", v.ID, "err", err)
	}
}

// emitFraud queues a fraud block's event, as emit does a verification's.
func (s *Service) emitFraud(ctx context.Context, typ string, b FraudBlock, why FraudUnblock) {
	e := Event{ID: fraudEventID(typ, b), Type: typ, At: s.d.Now().UTC(), Block: &b, Unblock: why}
	if err := s.d.Events.Emit(context.WithoutCancel(ctx), e); err != nil {
		s.d.Log.ErrorContext(ctx, "queue a fraud event", "event", typ, "name", b.Name(), "err", err)
	}
}

func (s *Service) scheduleExpiry(ctx context.Context, v Verification) {
	if err := s.d.Events.ScheduleExpiry(ctx, v.ID, v.ExpiresAt.Sub(v.CreatedAt)); err != nil {
		s.d.Log.ErrorContext(ctx, "schedule the expired event", "verification", v.ID, "err", err)
	}
}

// Expired emits the expired event of a verification whose code has
// expired; ok is false while it has not (yet): the caller asks again later.
func (s *Service) Expired(ctx context.Context, id string) (ok bool, err error) {
	v, err := s.Get(ctx, id)
	switch {
	case err != nil:
		return false, err
	case v.Status == StatusPending:
		return false, nil
	case v.Status == StatusExpired:
		s.stopped(v)
		s.emit(ctx, EventExpired, v, 0, 0)
	}
	return true, nil
}

// stopped counts the step that was under way when v ended otherwise than
// by approval.
func (s *Service) stopped(v Verification) {
	if st := activeStep(v); st != nil {
		s.d.Observer.WorkflowStep(st.Channel, StepStopped)
	}
}

// AttemptEnded is the word that an attempt's message or call got through,
// or did not: it becomes an event, and a failure moves the verification's
// workflow on to its next step at once.
// It returns the verification as it read it (empty when it could not).
func (s *Service) AttemptEnded(ctx context.Context, id string, attempt int, status DeliveryStatus, why string) Verification {
	v, err := s.Get(ctx, id)
	if err != nil {
		s.d.Log.ErrorContext(ctx, "read a verification for its delivery event", "verification", id, "err", err)
		return Verification{}
	}
	switch status {
	case DeliveryDelivered:
		s.emit(ctx, EventDelivered, v, attempt, 0)
	case DeliveryUndelivered, DeliveryFailed:
		s.emit(ctx, EventFailed, v, attempt, 0)
		if v.Workflow != nil {
			if err := s.advance(ctx, v, StepParams{FromAttempt: attempt, Ended: StepFailed, Why: why}); err != nil {
				s.d.Log.ErrorContext(ctx, "move the workflow on", "verification", id, "err", err)
			}
		}
	}
	return v
}

// StepTimedOut moves id's workflow on from step when that step is still
// the current one: its channel timeout passed without approval.
func (s *Service) StepTimedOut(ctx context.Context, id string, step int) error {
	v, err := s.Get(ctx, id)
	if err != nil || v.Workflow == nil {
		return err
	}
	return s.advance(ctx, v, StepParams{FromStep: step, Ended: StepTimedOut, Why: "no_approval"})
}

// approvingStep is the workflow step during which v was approved.
func approvingStep(v Verification) *Step {
	if v.Workflow == nil {
		return nil
	}
	for i := range v.Workflow.Steps {
		if v.Workflow.Steps[i].Status == StepApproved {
			return &v.Workflow.Steps[i]
		}
	}
	return nil
}

// activeStep is the step of v that was under way when v ended.
func activeStep(v Verification) *Step {
	if v.Workflow == nil {
		return nil
	}
	for i := range v.Workflow.Steps {
		if st := v.Workflow.Steps[i].Status; st == StepStarted || st == StepStopped {
			return &v.Workflow.Steps[i]
		}
	}
	return nil
}
