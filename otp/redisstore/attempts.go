package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/otpd/otpd/otp"
)

// Claim implements otp.Store (claim.lua).
func (s *Store) Claim(ctx context.Context, id string, attempt int, stale time.Duration, deadBefore time.Time) (otp.Claim, error) {
	tag, _ := otp.TagOfID(id)
	var dead int64
	if !deadBefore.IsZero() {
		dead = deadBefore.UnixMilli()
	}
	res, err := claimScript.Run(ctx, s.rdb, []string{recordKey(tag, s.tenant)},
		append(locator(tag, s.tenant, id), attempt, s.clock(), stale.Milliseconds(), dead)...).Slice()
	if err != nil {
		return otp.Claim{}, fmt.Errorf("%w: claim: %w", otp.ErrUnavailable, err)
	}
	switch outcome(str(res, 0)) {
	case outClaimed:
		exp, queued, now := num(res, 3), num(res, 5), num(res, 6)
		return otp.Claim{Outcome: otp.ClaimSend, Claims: int(num(res, 1)), To: str(res, 2),
			ExpiresAt: time.UnixMilli(exp).UTC(), Sealed: str(res, 4),
			QueuedAt: time.UnixMilli(queued).UTC(), Remaining: time.Duration(exp-now) * time.Millisecond,
			QueuedFor: time.Duration(now-queued) * time.Millisecond,
			Channel:   channelOf[str(res, 7)], Locale: cmp.Or(str(res, 8), defaultLocale),
			Brand: str(res, 9), AppHash: str(res, 10)}, nil
	case outSent:
		return otp.Claim{Outcome: otp.ClaimAlreadySent, MessageSID: unpackSID(str(res, 1))}, nil
	case outBusy:
		return otp.Claim{Outcome: otp.ClaimBusy, Wait: ms(res, 1)}, nil
	default:
		return otp.Claim{Outcome: otp.ClaimSkip, Reason: str(res, 1)}, nil
	}
}

// Release implements otp.Store (release.lua).
func (s *Store) Release(ctx context.Context, id string, attempt, errorCode int) error {
	tag, _ := otp.TagOfID(id)
	err := releaseScript.Run(ctx, s.rdb, []string{recordKey(tag, s.tenant)},
		append(locator(tag, s.tenant, id), attempt, s.clock(), errorCode)...).Err()
	if err != nil {
		return fmt.Errorf("%w: release: %w", otp.ErrUnavailable, err)
	}
	return nil
}

// Record implements otp.Store (report.lua).
func (s *Store) Record(ctx context.Context, id string, attempt int, u otp.AttemptUpdate) (bool, error) {
	tag, _ := otp.TagOfID(id)
	fromGateway := ""
	if u.FromGateway {
		fromGateway = "1"
	}
	out, err := reportScript.Run(ctx, s.rdb, []string{recordKey(tag, s.tenant)},
		append(locator(tag, s.tenant, id), attempt, s.clock(), string(u.Status), packSID(u.MessageSID), u.ErrorCode,
			u.Reason, u.RawStatus, fromGateway, u.Channel)...).Text()
	if err != nil {
		return false, fmt.Errorf("%w: record: %w", otp.ErrUnavailable, err)
	}
	return outcome(out) == outRecorded, nil
}

// StepWorkflow implements otp.Store (step.lua).
func (s *Store) StepWorkflow(ctx context.Context, id string, p otp.StepParams) (otp.StepResult, error) {
	tag, _ := otp.TagOfID(id)
	res, err := stepScript.Run(ctx, s.rdb, s.keys(tag), randOf(tag, id), s.clock(),
		p.FromStep, p.FromAttempt, stepLetters[p.Ended], recordSafe(p.Why), recordSafe(p.Skip),
		p.MaxSends, p.SendCap.Count, p.SendCap.Period.Milliseconds(), p.FailureLock.Count).Slice()
	if err != nil {
		return otp.StepResult{}, fmt.Errorf("%w: workflow step: %w", otp.ErrUnavailable, err)
	}
	r := otp.StepResult{Outcome: stepOutcomes[outcome(str(res, 0))], Step: int(num(res, 1))}
	if len(res) > 5 {
		r.Attempt = int(num(res, 2))
		r.Channel = str(res, 3)
		r.ValidFor = ms(res, 4)
		r.Reason = str(res, 5)
		if r.Outcome == otp.StepOutcomeStale {
			r.Reason = string(stepOf[r.Reason]) // the current step's status
		}
	}
	return r, nil
}

// stepOutcomes are step.lua's outcomes, as the service takes them.
var stepOutcomes = map[outcome]otp.StepOutcome{
	outStarted: otp.StepOutcomeStarted, outSkipped: otp.StepOutcomeSkipped, outDone: otp.StepOutcomeDone,
	outStale: otp.StepOutcomeStale, outStopped: otp.StepOutcomeStopped,
}
