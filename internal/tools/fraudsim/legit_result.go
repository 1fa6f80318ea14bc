package main

import (
	"sort"
	"time"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// legitResult sums the legitimate users; msgs are the SMS to them.
func (s *sim) legitResult(msgs []twiliofake.Request) LegitResult {
	r := LegitResult{SMS: len(msgs), CheckFailed: map[string]int{}, Refused: map[string]int{}, Late: s.legit.late.String()}
	sends := s.legit.all()
	rows := map[string]*CountryRow{}
	for _, c := range s.pop.countries {
		rows[c.Region] = &CountryRow{Country: c.Region, Ranges: len(c.Ranges)}
	}
	refusedRanges := map[*numberRange]bool{}
	approvals := approvalTimes(sends)
	var took, smsDelay []time.Duration
	for _, sd := range sends {
		row := rows[sd.rng.Region]
		r.Users++
		row.Users++
		took = append(took, sd.answered.Sub(sd.at))
		if !sd.accepted() {
			r.Refused[sd.a.refusal()]++
			r.RefusedBy.add(sd.a)
			row.Refused.add(sd.a)
			if !refusedRanges[sd.rng] {
				refusedRanges[sd.rng] = true
				row.RangesRefused++
			}
			if len(r.Refusals) < 100 {
				r.Refusals = append(r.Refusals, s.refusalRow(sd, approvals[sd.rng]))
			}
			continue
		}
		r.Accepted++
		row.Accepted++
		if !sd.smsAt.IsZero() {
			smsDelay = append(smsDelay, sd.smsAt.Sub(sd.answered))
		}
		r.countCheck(sd, row)
	}
	for _, c := range s.pop.countries {
		r.ByCountry = append(r.ByCountry, *rows[c.Region])
	}
	r.SendP50ms, r.SendP99ms, r.SendMaxms = percentile(took, 50), percentile(took, 99), percentile(took, 100)
	r.SMSP50ms, r.SMSP99ms, r.SMSMaxms = percentile(smsDelay, 50), percentile(smsDelay, 99), percentile(smsDelay, 100)
	return r
}

// countCheck adds what came of an accepted send: its SMS, its check.
func (r *LegitResult) countCheck(sd *send, row *CountryRow) {
	switch {
	case sd.smsAt.IsZero():
		r.NoSMS++
	case sd.checkedAt.IsZero():
		// the user did not enter the code
	case sd.approved:
		r.Entered++
		r.Approved++
		row.Approved++
	default:
		r.Entered++
		why := sd.checkCode
		if why == "" {
			why = "valid:false"
		}
		r.CheckFailed[why]++
	}
}

func (b *RefusedBy) add(a answer) {
	switch {
	case a.status == 0:
		b.Transport++
	case a.status >= 500:
		b.Server++
	case a.code == "fraud_blocked":
		b.Fraud++
	default:
		b.Other4xx++
	}
}

// approvalTimes are each range's approvals, in order.
func approvalTimes(sends []*send) map[*numberRange][]time.Time {
	out := map[*numberRange][]time.Time{}
	for _, sd := range sends {
		if sd.approved {
			out[sd.rng] = append(out[sd.rng], sd.checkedAt)
		}
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	return out
}

func (s *sim) refusalRow(sd *send, approvals []time.Time) RefusalRow {
	row := RefusalRow{AtSim: s.clock.sim(sd.at).Seconds(), Country: sd.rng.Region, Prefix: sd.rng.Prefix,
		Refusal: sd.a.refusal(), RangeApprovalAgoSim: -1}
	i := sort.Search(len(approvals), func(i int) bool { return !approvals[i].Before(sd.at) })
	if i > 0 {
		row.RangeApprovalAgoSim = s.clock.sim(sd.at).Seconds() - s.clock.sim(approvals[i-1]).Seconds()
	}
	return row
}
