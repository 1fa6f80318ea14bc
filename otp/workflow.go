package otp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// The steps' letters at rest (common.lua's WORKFLOW and setStep).
var (
	workflowLetter = map[string]string{ChannelSMS: "s", ChannelWhatsApp: "w", ChannelCall: "c"}
	stepStatusOf   = map[string]StepStatus{"a": StepStarted, "f": StepFailed, "t": StepTimedOut, "k": StepSkipped, "v": StepApproved}
	stepLetter     = map[StepStatus]string{StepFailed: "f", StepTimedOut: "t"}
)

// MaxWorkflowSteps bounds a workflow: SMS, WhatsApp, a call, and one more.
const MaxWorkflowSteps = 4

func workflowLetters(channels []string) string {
	var b strings.Builder
	for _, c := range channels {
		b.WriteString(workflowLetter[c])
	}
	return b.String()
}

// parseWorkflow reads a verification's workflow fields; nil when it has
// none. A started step of a verification that is no longer pending was
// stopped by what ended the verification.
func parseWorkflow(m map[string]string, v *Verification) (*Workflow, error) {
	letters := m["wf"]
	if letters == "" {
		return nil, nil
	}
	timeout, err := strconv.ParseInt(m["wt"], 10, 64)
	if err != nil || len(letters) > MaxWorkflowSteps {
		return nil, fmt.Errorf("otp: corrupt workflow")
	}
	w := &Workflow{ChannelTimeout: int(timeout / 1000)}
	at := func(s string) *time.Time {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		t := v.CreatedAt.Add(time.Duration(ms) * time.Millisecond)
		return &t
	}
	for i, l := range letters {
		channel := map[rune]string{'s': ChannelSMS, 'w': ChannelWhatsApp, 'c': ChannelCall}[l]
		st := Step{Step: i + 1, Channel: channel, Status: StepPending}
		if raw, ok := m["w"+strconv.Itoa(i+1)]; ok {
			p := strings.Split(raw, "|")
			status, ok := stepStatusOf[p[0]]
			if len(p) != 5 || !ok || channel == "" {
				return nil, fmt.Errorf("otp: corrupt workflow step %d", i+1)
			}
			st.Status, st.Reason = status, p[4]
			st.Attempt, _ = strconv.Atoi(p[1])
			st.StartedAt, st.EndedAt = at(p[2]), at(p[3])
		}
		w.Steps = append(w.Steps, st)
	}
	v.Workflow = w
	stopSteps(v)
	return w, nil
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
	Reason   string        // why it was skipped
}

// StepWorkflow moves a verification's workflow from one step to the next,
// atomically and at most once per step (see step.lua).
func (s *Store) StepWorkflow(ctx context.Context, tag, id string, p StepParams) (StepResult, error) {
	res, err := stepScript.Run(ctx, s.rdb, []string{numberKey(tag)}, append(locator(tag, id), s.clock(),
		p.FromStep, p.FromAttempt, stepLetter[p.Ended], recordSafe(p.Why), recordSafe(p.Skip),
		p.MaxSends, p.SendCap.Count, p.SendCap.Period.Milliseconds(), p.FailureLock.Count)...).Slice()
	if err != nil {
		return StepResult{}, fmt.Errorf("%w: workflow step: %w", ErrUnavailable, err)
	}
	r := StepResult{Outcome: StepOutcome(res[0].(int64))}
	if len(res) > 1 {
		r.Step = int(res[1].(int64))
	}
	if len(res) > 5 {
		r.Attempt = int(res[2].(int64))
		r.Channel, _ = res[3].(string)
		r.ValidFor = time.Duration(res[4].(int64)) * time.Millisecond
		r.Reason, _ = res[5].(string)
	}
	return r, nil
}

// Advance moves v's workflow on from the step p names to the next one that
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
func (s *Service) Advance(ctx context.Context, v Verification, p StepParams) error {
	tag, ok := TagOfID(v.ID)
	if !ok || v.Workflow == nil {
		return nil
	}
	phone, err := ParsePhone(v.To, s.policy.DefaultRegion)
	if err != nil {
		return err
	}
	timeout := time.Duration(v.Workflow.ChannelTimeout) * time.Second
	p.MaxSends, p.SendCap, p.FailureLock = s.policy.MaxSends, s.policy.SendCap, s.policy.FailureLock
	p.Why = recordSafe(p.Why)
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
			if err := s.queue.ScheduleStep(ctx, v.ID, next, timeout); err != nil {
				return fmt.Errorf("%w: schedule step %d: %w", ErrUnavailable, next, err)
			}
			if refund, reason, err = s.takeStep(ctx, v, phone, v.Workflow.Steps[next-1].Channel); err != nil {
				return err
			}
			skip = string(reason)
		}
		p.Skip = skip
		res, err := s.store.StepWorkflow(ctx, tag, v.ID, p)
		if err != nil {
			s.undo(ctx, refund)
			return err
		}
		if ended != "" && res.Outcome != StepOutcomeStale && res.Outcome != StepOutcomeStopped {
			s.obs.WorkflowStep(v.Workflow.Steps[from-1].Channel, ended)
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
			} else if LimitReason(skip) == reason && reason != "channel_disabled" && reason != "country_not_allowed" {
				s.obs.Rejected(reason, phone.CountryCode)
			}
			s.obs.WorkflowStep(res.Channel, StepSkipped)
			p = StepParams{FromStep: res.Step, MaxSends: p.MaxSends, SendCap: p.SendCap, FailureLock: p.FailureLock}
		case StepOutcomeStale:
			s.undo(ctx, refund)
			switch res.Reason {
			case "a": // started: make sure its send and timeout exist
				return s.reissue(ctx, v, res, timeout)
			case "k": // skipped by a run that died before the next step
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
		return noRefund, "channel_disabled", nil
	case channel == ChannelCall && len(s.policy.VoiceAllowedCountries) > 0 && !s.policy.VoiceAllowedCountries[phone.Region]:
		return noRefund, "country_not_allowed", nil
	}
	pipe := s.store.Pipeline()
	tag, _ := TagOfID(v.ID)
	done := s.guard.QueueSend(ctx, pipe, SendScope{Origin: v.Origin, Tag: tag, Region: phone.Region, Channel: channel,
		CallingCode: phone.CountryCode, Prefix: phone.Prefix(s.policy.PrefixDigits)})
	_, _ = pipe.Exec(ctx)
	refund, err = done()
	var le *LimitError
	if errors.As(err, &le) {
		return noRefund, le.Reason, nil
	}
	return refund, "", err
}

// startStep queues a started step's send, and tells.
func (s *Service) startStep(ctx context.Context, v Verification, res StepResult) error {
	job := SendJob{ID: v.ID, Attempt: res.Attempt, Channel: res.Channel, ValidFor: res.ValidFor}
	if err := s.queue.EnqueueSend(ctx, job); err != nil {
		// The step's timeout, or a retry of this trigger, finishes it.
		return fmt.Errorf("%w: enqueue step %d: %w", ErrUnavailable, res.Step, err)
	}
	s.obs.WorkflowStep(res.Channel, StepStarted)
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
	if err := s.queue.ScheduleStep(ctx, v.ID, res.Step, timeout); err != nil {
		return fmt.Errorf("%w: schedule step %d: %w", ErrUnavailable, res.Step, err)
	}
	job := SendJob{ID: v.ID, Attempt: res.Attempt, Channel: res.Channel, ValidFor: res.ValidFor}
	if err := s.queue.EnqueueSend(ctx, job); err != nil {
		return fmt.Errorf("%w: enqueue step %d: %w", ErrUnavailable, res.Step, err)
	}
	return nil
}

// recordSafe keeps a reason fit for the scripts' '|'-separated records.
func recordSafe(s string) string { return strings.ReplaceAll(s, "|", "_") }

// stepOfAttempt is the step that made attempt n (0: none).
func stepOfAttempt(w *Workflow, n int) int {
	for _, st := range w.Steps {
		if st.Attempt == n && n > 0 {
			return st.Step
		}
	}
	return 0
}
