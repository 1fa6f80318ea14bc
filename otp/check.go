package otp

import (
	"context"
	"errors"
	"fmt"
)

// CheckRequest names a verification by ID or by number, with the code typed.
type CheckRequest struct {
	ID, To, Code string
	Origin
}

// Check tests a code. valid is true exactly once per verification.
func (s *Service) Check(ctx context.Context, r CheckRequest) (v Verification, valid bool, err error) {
	p, err := s.checkParams(r)
	if err != nil {
		return v, false, err
	}
	// The store takes the origin's limits with the check. Only a right
	// code is free: every other answer costs the origin alike, a wrong
	// code and also an unknown or finished verification, so that neither
	// the budget nor the time an answer takes tells an end user whether a
	// number has a verification. A timeout may have run the check: it
	// costs too.
	p.MAC, p.Origin = s.d.Codec.MAC(p.Tag, r.Code), r.Origin
	cr, err := s.d.Store.Check(ctx, p)
	v, outcome := cr.Verification, cr.Outcome
	cc := callingCode(v.To, p.To)
	if err != nil {
		s.observeRefusal(err, cc)
		var fe *FinishedError
		if errors.As(err, &fe) && fe.Status == StatusExpired {
			s.d.Observer.Expired(v.Channel, cc)
		}
		return v, false, err
	}
	s.checked(ctx, cr, cc)
	return v, outcome == CheckApproved, nil
}

// checkParams finds the verification a check names, and checks the code's
// shape before anything is read.
func (s *Service) checkParams(r CheckRequest) (CheckParams, error) {
	p := CheckParams{MaxChecks: s.policy.MaxChecks, FailureLock: s.policy.FailureLock}
	switch {
	case r.ID != "" && r.To != "":
		return p, &InputError{Detail: "give either id or to, not both"}
	case r.ID != "":
		tag, ok := TagOfID(r.ID)
		if !ok {
			return p, ErrNotFound
		}
		p.Tag, p.ID = tag, r.ID
	case r.To != "":
		phone, err := ParsePhone(r.To, s.policy.DefaultRegion)
		if err != nil {
			return p, err
		}
		p.Tag, p.To = s.d.Codec.Tag(phone.E164), phone.E164
	default:
		return p, &InputError{Detail: "id or to is required"}
	}
	if !s.d.Codec.ValidCodeFormat(r.Code) {
		return p, &InputError{Detail: fmt.Sprintf("code must be %d digits", s.d.Codec.Length())}
	}
	return p, nil
}

// checked counts and tells what a check that ran did.
func (s *Service) checked(ctx context.Context, cr CheckResult, cc int) {
	v := cr.Verification
	if cr.Locked {
		s.emit(ctx, EventNumberLocked, v, 0, 0)
	}
	if cr.Outcome == CheckApproved {
		s.fraudApproved(v)
		s.d.Observer.Approved(v.Channel, cc)
		if st := approvingStep(v); st != nil {
			s.d.Observer.ApprovedByStep(st.Step, st.Channel, cc)
			s.d.Observer.WorkflowStep(st.Channel, StepApproved)
		}
		s.emit(ctx, EventApproved, v, 0, 0)
		s.revokeUnread(ctx, v)
		return
	}
	s.d.Observer.CheckFailed(v.Channel, cc)
	if cr.Outcome == CheckExhausted {
		s.stopped(v)
		s.emit(ctx, EventMaxAttempts, v, 0, 0)
	}
}

// callingCode of the first E.164 number given; 0 when unknown.
func callingCode(numbers ...string) int {
	for _, n := range numbers {
		if cc := CallingCode(n); cc != 0 {
			return cc
		}
	}
	return 0
}
