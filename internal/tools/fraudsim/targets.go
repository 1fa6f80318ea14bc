package main

import (
	"fmt"
	"math"
	"time"
)

// Target is one PASS/FAIL line.
type Target struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

func checkTargets(res *Result, p guardParams) []Target {
	var out []Target
	for _, a := range res.Attacks {
		switch a.Attack {
		case "hammer":
			out = append(out, hammerTarget(a, p))
		case "mimic":
			out = append(out, Target{Name: "(c) mimic " + a.Prefix + " blocked", Pass: a.Blocked && a.AcceptedAfterBlock == 0,
				Detail: fmt.Sprintf("%d SMS, %d codes entered, blocked after %s, %d accepted after the block",
					a.SMS, a.Approved, simDuration(a.TimeToBlockSim), a.AcceptedAfterBlock)})
		}
	}
	out = append(out, rotateTargets(res)...)
	return append(out, legitTarget(res.Legit))
}

// hammerCap is the most a range hammered at rate (per simulated second)
// can get before its block: FRAUD_MIN_SENDS, then what it sends while the
// guard cannot judge the last of them yet (FRAUD_GRACE and one bucket,
// and the send that finds the block), all under PREFIX_SEND_LIMITS (its
// count for every period the attack spans until the block).
func hammerCap(a AttackResult, p guardParams) int {
	delay := p.simDur(p.Grace + p.bucket())
	c := p.MinSends + int(math.Ceil(a.Rate*delay.Seconds())) + 1
	if p.PrefixPeriod > 0 && a.Blocked {
		periods := int(math.Ceil(a.TimeToBlockSim / p.simDur(p.PrefixPeriod).Seconds()))
		c = min(c, p.PrefixCount*max(periods, 1))
	}
	return c
}

func hammerTarget(a AttackResult, p guardParams) Target {
	limit := hammerCap(a, p)
	pass := a.Blocked && a.SMS <= p.MinSends+a.InFlight && a.SMS <= limit && a.AcceptedAfterBlock == 0
	return Target{Name: "(a) hammer " + a.Prefix + ": SMS ≤ FRAUD_MIN_SENDS + in flight", Pass: pass,
		Detail: fmt.Sprintf("%d SMS ≤ %d + %d in flight (cap %d); blocked after %s; %d accepted after the block",
			a.SMS, p.MinSends, a.InFlight, limit, simDuration(a.TimeToBlockSim), a.AcceptedAfterBlock)}
}

func rotateTargets(res *Result) []Target {
	var rot AttackResult
	for _, a := range res.Attacks {
		if a.Attack == "rotate" {
			rot = a
		}
	}
	b := res.RotateBound
	t := Target{Name: "(b) rotate: SMS bounded by the country rule"}
	switch {
	case b == nil:
		t.Detail = fmt.Sprintf("%s was never blocked as a country; %d SMS reached the bots", rot.Country, rot.SMS)
	case rot.BlockScope != "country":
		t.Detail = fmt.Sprintf("the bots' first refusal was a %q block, not the country's; %d SMS", rot.BlockScope, rot.SMS)
	default:
		t.Pass = rot.SMS <= b.Bound && rot.AcceptedAfterBlock == 0
		t.Detail = fmt.Sprintf("%d SMS over %d ranges ≤ bound %d (= %d needed − %d legitimate settled + %d in flight); country blocked after %s",
			rot.SMS, rot.Touched, b.Bound, b.Needed, b.LegitSettled, b.InFlightAllowance, simDuration(rot.TimeToBlockSim))
	}
	out := []Target{t}
	if c := res.Compare; c != nil {
		out = append(out, Target{Name: "(b) rotate: SMS about the same for another -rotate-ranges",
			Pass: c.Ratio >= 0.75 && c.Ratio <= 1.0/0.75,
			Detail: fmt.Sprintf("%d ranges: %d SMS; %d ranges (%s): %d SMS; ratio %.2f (pass within 0.75–1.33)",
				c.RotateRanges, c.SMS, c.PrevRotateRanges, c.File, c.PrevSMS, c.Ratio)})
	}
	return out
}

func legitTarget(l LegitResult) Target {
	n := l.RefusedBy.Fraud + l.RefusedBy.Other4xx + l.RefusedBy.Server + l.RefusedBy.Transport
	return Target{Name: "legitimate: no send refused", Pass: n == 0 && l.Approved > 0,
		Detail: fmt.Sprintf("%d of %d refused (%d fraud_blocked, %d other 4xx, %d 5xx, %d transport); %d approved",
			n, l.Users, l.RefusedBy.Fraud, l.RefusedBy.Other4xx, l.RefusedBy.Server, l.RefusedBy.Transport, l.Approved)}
}

// simDuration prints simulated seconds as a duration.
func simDuration(sec float64) string {
	if sec <= 0 {
		return "—"
	}
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}
