package otp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Workflow is a verification's fallback plan: its channels in order, each
// tried with the same code when the one before failed or stayed silent for
// ChannelTimeout. It is shown in GET as the steps' progress.
type Workflow struct {
	ChannelTimeout int    `json:"channelTimeout"` // seconds
	Steps          []Step `json:"steps"`
}

// Step is one channel of a workflow and what became of it.
type Step struct {
	Step      int        `json:"step"`
	Channel   string     `json:"channel"`
	Status    StepStatus `json:"status"`
	Attempt   int        `json:"attempt,omitempty"` // the send attempt it made
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	// Reason says why it ended: Twilio's word for a failure, the limit that
	// skipped it, or the verification's status that stopped it.
	Reason string `json:"reason,omitempty"`
}

// StepStatus is where a workflow step stands.
type StepStatus string

const (
	StepPending  StepStatus = "pending"   // not reached (yet)
	StepStarted  StepStatus = "started"   // its message or call is on its way
	StepFailed   StepStatus = "failed"    // known not to have got through: the next step started
	StepTimedOut StepStatus = "timed_out" // no approval within the channel timeout
	StepSkipped  StepStatus = "skipped"   // a limit or budget refused it
	StepApproved StepStatus = "approved"  // the code came back during this step
	StepStopped  StepStatus = "stopped"   // the verification ended otherwise (canceled, expired, locked)
)

// MaxWorkflowSteps bounds a workflow: SMS, WhatsApp, a call, and one more.
const MaxWorkflowSteps = 4

// Settle brings a verification read from a store up to date at now: a
// pending one whose code has expired is expired (the store may not have
// noticed yet: Redis 7.0 has no per-field expiry), and the workflow step
// under way of one that has ended was stopped by what ended it. A zero now
// judges no expiry. Stores call it on what they read.
func (v *Verification) Settle(now time.Time) {
	if v.Status == StatusPending && !now.IsZero() && !now.Before(v.ExpiresAt) {
		v.Status = StatusExpired
	}
	stopSteps(v)
}

// stopSteps marks the step under way of a verification that is no longer
// pending as stopped by what ended it.
func stopSteps(v *Verification) {
	if v.Workflow == nil || v.Status == StatusPending {
		return
	}
	for i := range v.Workflow.Steps {
		if st := &v.Workflow.Steps[i]; st.Status == StepStarted {
			st.Status, st.Reason = StepStopped, string(v.Status)
		}
	}
}

// StepParams moves a workflow on from one step.
type StepParams struct {
	// FromStep is the step to move on from; 0 means the step whose attempt
	// is FromAttempt (a failure report names the attempt, not the step).
	FromStep, FromAttempt int
	// Ended is how that step ended (failed or timed out), and Why Twilio's
	// word for it; "" when it ended before (it was skipped).
	Ended StepStatus
	Why   string
	// Skip, when set, skips the next step for this reason (a limit that
	// refused it) instead of starting it.
	Skip string

	MaxSends    int
	SendCap     Window
	FailureLock Window
}

// StepOutcome is what StepWorkflow did.
type StepOutcome int

const (
	StepOutcomeStale   StepOutcome = 0  // the workflow had moved on already, or there is none
	StepOutcomeStarted StepOutcome = 1  // the next step started: send its attempt
	StepOutcomeSkipped StepOutcome = 2  // the next step was skipped: try the one after
	StepOutcomeDone    StepOutcome = 3  // no step left
	StepOutcomeStopped StepOutcome = -1 // the verification is no longer pending
)

// StepResult is the step that StepWorkflow reached.
type StepResult struct {
	Outcome  StepOutcome
	Step     int
	Attempt  int
	Channel  string
	ValidFor time.Duration // the code's life left
	Reason   string        // why it was skipped; when stale, the current step's StepStatus
}

// advance moves v's workflow on from the step p names to the next one that
// can go: a step its channel's limits or budgets refuse, whose channel was
// disabled, or whose call the country rules forbid, is skipped with that
// reason, and the one after is tried. The step that starts gets its send
// and its own timeout; nothing happens when another trigger moved the
// workflow first, or the verification ended.
//
// Crash-safe: each step's timeout is scheduled before the step starts, so
// a run that dies half way is finished by that timeout; and a trigger that
// finds the workflow moved re-issues the current step's send and timeout
// (both idempotent by TaskID, and the claim sends at most once), or goes on
// from a skipped step an earlier run left behind.
func (s *Service) advance(ctx context.Context, v Verification, p StepParams) error {
	if _, ok := TagOfID(v.ID); !ok || v.Workflow == nil {
		return nil
	}
	phone, err := ParsePhone(v.To, s.policy.DefaultRegion)
	if err != nil {
		return err
	}
	timeout := time.Duration(v.Workflow.ChannelTimeout) * time.Second
	p.MaxSends, p.SendCap, p.FailureLock = s.policy.MaxSends, s.policy.SendCap, s.policy.FailureLock
	ended := p.Ended
	for range MaxWorkflowSteps + 1 {
		from := p.FromStep
		if from == 0 {
			from = stepOfAttempt(v.Workflow, p.FromAttempt)
		}
		if from == 0 {
			return nil // the attempt is no step's (a manual resend)
		}
		refund, skip, reason := Refund(noRefund), "", LimitReason("")
		if next := from + 1; next <= len(v.Workflow.Steps) {
			if err := s.d.Queue.ScheduleStep(ctx, v.ID, next, timeout); err != nil {
				return fmt.Errorf("%w: schedule step %d: %w", ErrUnavailable, next, err)
			}
			if refund, reason, err = s.takeStep(ctx, v, phone, v.Workflow.Steps[next-1].Channel); err != nil {
				return err
			}
			skip = string(reason)
		}
		p.Skip = skip
		res, err := s.d.Store.StepWorkflow(ctx, v.ID, p)
		if err != nil {
			s.undo(ctx, refund)
			return err
		}
		if ended != "" && res.Outcome != StepOutcomeStale && res.Outcome != StepOutcomeStopped {
			s.d.Observer.WorkflowStep(v.Workflow.Steps[from-1].Channel, ended)
			ended = ""
		}
		switch res.Outcome {
		case StepOutcomeStarted:
			// No refund when its send cannot be queued: the step has
			// started, and the retried trigger re-issues that send.
			return s.startStep(ctx, v, res)
		case StepOutcomeSkipped:
			if skip == "" {
				s.undo(ctx, refund) // the per-number rules refused it: nothing sent
			} else if LimitReason(skip) == reason && reason != LimitReason(ReasonChannelDisabled) && reason != LimitReason(ReasonCountry) {
				s.d.Observer.Rejected(reason, phone.CountryCode)
			}
			s.d.Observer.WorkflowStep(res.Channel, StepSkipped)
			p = StepParams{FromStep: res.Step, MaxSends: p.MaxSends, SendCap: p.SendCap, FailureLock: p.FailureLock}
		case StepOutcomeStale:
			s.undo(ctx, refund)
			switch res.Reason {
			case string(StepStarted): // make sure its send and timeout exist
				return s.reissue(ctx, v, res, timeout)
			case string(StepSkipped): // by a run that died before the next step
				p = StepParams{FromStep: res.Step, MaxSends: p.MaxSends, SendCap: p.SendCap, FailureLock: p.FailureLock}
			default:
				return nil
			}
		default: // done, stopped
			s.undo(ctx, refund)
			return nil
		}
	}
	return nil
}

// takeStep applies a step's channel rules and cross-number limits, with
// the origin of the request that started the verification, before the step
// starts: refund gives back what was taken, skip says why the step may not
// go ("" it may).
func (s *Service) takeStep(ctx context.Context, v Verification, phone Phone, channel string) (refund Refund, skip LimitReason, err error) {
	switch {
	case !s.policy.channelEnabled(channel):
		return noRefund, LimitReason(ReasonChannelDisabled), nil
	case channel == ChannelCall && len(s.policy.VoiceAllowedCountries) > 0 && !s.policy.VoiceAllowedCountries[phone.Region]:
		return noRefund, LimitReason(ReasonCountry), nil
	}
	if len(s.policy.BlockedNumberTypes) > 0 && s.policy.BlockedNumberTypes[phone.Type()] {
		switch safe, err := s.safe(ctx, phone.E164); {
		case err != nil:
			return noRefund, "", err
		case !safe:
			return noRefund, LimitNumberType, nil
		}
	}
	tag, _ := TagOfID(v.ID)
	grant, err := s.d.Limiter.TakeSend(ctx, s.sendScope(v.Origin, tag, phone, channel))
	s.fraudSeen(ctx, verdictOf(grant.Fraud, err))
	var le *LimitError
	if errors.As(err, &le) {
		return noRefund, le.Reason, nil
	}
	if grant.Refund == nil {
		grant.Refund = noRefund
	}
	return grant.Refund, "", err
}

// startStep queues a started step's send, and tells.
func (s *Service) startStep(ctx context.Context, v Verification, res StepResult) error {
	job := DeliveryJob{ID: v.ID, Attempt: res.Attempt, Channel: res.Channel, ValidFor: res.ValidFor}
	if err := s.d.Queue.EnqueueDelivery(ctx, job); err != nil {
		// The step's timeout, or a retry of this trigger, finishes it.
		return fmt.Errorf("%w: enqueue step %d: %w", ErrUnavailable, res.Step, err)
	}
	s.d.Observer.WorkflowStep(res.Channel, StepStarted)
	if now, err := s.Get(ctx, v.ID); err == nil {
		v = now
	}
	s.emit(ctx, EventStepStarted, v, res.Attempt, res.Step)
	return nil
}

// reissue makes sure the current, started step has its send and its
// timeout queued: a run that started it may have died before queueing them.
func (s *Service) reissue(ctx context.Context, v Verification, res StepResult, timeout time.Duration) error {
	if res.Attempt < 1 {
		return nil
	}
	if err := s.d.Queue.ScheduleStep(ctx, v.ID, res.Step, timeout); err != nil {
		return fmt.Errorf("%w: schedule step %d: %w", ErrUnavailable, res.Step, err)
	}
	job := DeliveryJob{ID: v.ID, Attempt: res.Attempt, Channel: res.Channel, ValidFor: res.ValidFor}
	if err := s.d.Queue.EnqueueDelivery(ctx, job); err != nil {
		return fmt.Errorf("%w: enqueue step %d: %w", ErrUnavailable, res.Step, err)
	}
	return nil
}

// stepOfAttempt is the step that made attempt n (0: none).
func stepOfAttempt(w *Workflow, n int) int {
	for _, st := range w.Steps {
		if st.Attempt == n && n > 0 {
			return st.Step
		}
	}
	return 0
}
