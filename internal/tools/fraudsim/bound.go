package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"
)

// RotateBound is what the country rule lets the rotating bots send: the
// country fails once its settled verifications in the window reach
// Needed (FRAUD_COUNTRY_MIN_SENDS, and more than the legitimate approvals
// divided by FRAUD_MIN_CONVERSION), so the bots get Needed less the
// legitimate verifications, plus what they send while the guard cannot
// see it yet (InFlightAllowance: the rate over FRAUD_GRACE and two
// buckets, the judged buckets' edge and the one the judgement overshoots
// by). None of it depends on how many ranges they walk.
type RotateBound struct {
	Country       string  `json:"country"`
	BlockSinceSim float64 `json:"block_since_sim"`
	// The buckets judged when the country was blocked.
	SpanFromSim float64 `json:"judged_from_sim"`
	SpanToSim   float64 `json:"judged_to_sim"`
	// The block's own counts, and the simulation's of the same span.
	GuardSettled      int `json:"guard_settled"`
	GuardApproved     int `json:"guard_approved"`
	LegitSettled      int `json:"legit_settled"`
	LegitApproved     int `json:"legit_approved"`
	AttackSettled     int `json:"attack_settled"`
	Needed            int `json:"needed"`
	InFlightAllowance int `json:"in_flight_allowance"`
	Bound             int `json:"bound"`
	SMS               int `json:"rotate_sms"`
}

// rotateBound computes the bound from the country's block, nil when the
// country was not blocked.
func (s *sim) rotateBound(res *Result) *RotateBound {
	var blk *BlockRow
	for i, b := range res.Blocks {
		if b.Scope == "country" && b.Name == s.o.rotateCountry {
			blk = &res.Blocks[i]
		}
	}
	if blk == nil {
		return nil
	}
	b := &RotateBound{Country: blk.Name, BlockSinceSim: blk.SinceSim, GuardSettled: blk.Settled, GuardApproved: blk.Approved}
	at := s.clock.at(time.Duration(blk.SinceSim * float64(time.Second)))
	w, T := s.p.bucket().Milliseconds(), at.UnixMilli()
	lo := int64(math.Ceil(float64(T-s.p.Window.Milliseconds()) / float64(w)))
	hi := (T-s.p.Grace.Milliseconds())/w - 1
	from, to := time.UnixMilli(lo*w), time.UnixMilli((hi+1)*w)
	b.SpanFromSim, b.SpanToSim = s.clock.sim(from).Seconds(), s.clock.sim(to).Seconds()
	in := func(sd *send) bool {
		return sd.accepted() && sd.rng.Region == b.Country && !sd.at.Before(from) && sd.at.Before(to)
	}
	for _, sd := range s.legit.all() {
		if in(sd) {
			b.LegitSettled++
			if sd.approved && sd.checkedAt.Before(at) {
				b.LegitApproved++
			}
		}
	}
	for _, st := range s.attackStreams() {
		for _, sd := range st.all() {
			if in(sd) {
				b.AttackSettled++
			}
		}
	}
	b.Needed = max(s.p.CountryMinSends, int(math.Floor(float64(b.LegitApproved)/s.p.MinConversion))+1)
	sim := s.p.simDur(s.p.Grace + 2*s.p.bucket())
	b.InFlightAllowance = int(math.Ceil(s.o.rotateRate * sim.Seconds()))
	b.Bound = b.Needed - b.LegitSettled + b.InFlightAllowance
	for _, a := range res.Attacks {
		if a.Attack == "rotate" {
			b.SMS = a.SMS
		}
	}
	return b
}

// Comparison sets this run's rotating bots against an earlier run's.
type Comparison struct {
	File             string  `json:"file"`
	PrevRotateRanges int     `json:"prev_rotate_ranges"`
	PrevSMS          int     `json:"prev_rotate_sms"`
	RotateRanges     int     `json:"rotate_ranges"`
	SMS              int     `json:"rotate_sms"`
	Ratio            float64 `json:"sms_ratio"`
}

func (res *Result) compareWith(file string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("-compare: %w", err)
	}
	var prev Result
	if err := json.Unmarshal(b, &prev); err != nil {
		return fmt.Errorf("-compare %s: %w", file, err)
	}
	c := &Comparison{File: file, PrevRotateRanges: prev.Sim.RotateRanges, RotateRanges: res.Sim.RotateRanges}
	c.PrevSMS, c.SMS = rotateSMS(prev), rotateSMS(*res)
	if c.PrevSMS > 0 {
		c.Ratio = float64(c.SMS) / float64(c.PrevSMS)
	}
	res.Compare = c
	return nil
}

func rotateSMS(r Result) int {
	for _, a := range r.Attacks {
		if a.Attack == "rotate" {
			return a.SMS
		}
	}
	return 0
}
