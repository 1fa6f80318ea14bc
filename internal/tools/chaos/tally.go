package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Row is one fault's figures.
type Row struct {
	Fault  string `json:"fault"`
	Target string `json:"target"`
	// ZeroLoss says the target is no acknowledged send lost; false makes
	// the row informational.
	ZeroLoss bool `json:"zeroLoss"`
	// MaxWait, when not 0, is a target on the longest 202→SMS wait.
	MaxWait time.Duration `json:"maxWaitTarget,omitempty"`

	Sent      int `json:"sent"`
	Acked     int `json:"acked"`     // answered 202
	Failed    int `json:"failed"`    // answered otherwise, or not at all
	Delivered int `json:"delivered"` // acknowledged verifications with an SMS at the fake
	Approved  int `json:"approved"`
	// Duplicates are acknowledged verifications that got more than one
	// SMS; ExtraSMS the messages beyond the first.
	Duplicates int `json:"duplicates"`
	ExtraSMS   int `json:"extraSMS"`
	Lost       int `json:"lost"` // acknowledged, never got an SMS
	// UnackedSMS are sends that failed (no 202) whose SMS went anyway.
	UnackedSMS int `json:"unackedSMS"`
	// The failed sends' span, from the first failure's start to the last
	// one's answer, and those two times relative to the fault.
	ErrorWindow  float64        `json:"errorWindowSeconds"`
	FirstFailure float64        `json:"firstFailureSeconds,omitempty"`
	LastFailure  float64        `json:"lastFailureSeconds,omitempty"`
	Failures     map[string]int `json:"failures,omitempty"` // by status or "transport error"
	// Waits from 202 to the first SMS, seconds.
	WaitMax float64 `json:"waitMaxSeconds"`
	WaitP50 float64 `json:"waitP50Seconds"`
	WaitP99 float64 `json:"waitP99Seconds"`

	Verdict string   `json:"verdict"` // PASS, FAIL or INFO
	Notes   []string `json:"notes,omitempty"`
}

// tally counts one fault's sends against the times of the SMS the fake
// accepted, by To; faultAt is when the fault began.
func tally(r Row, sends []send, sms map[string][]time.Time, faultAt time.Time) Row {
	r.Sent, r.Failures = len(sends), map[string]int{}
	var waits []time.Duration
	var first, last time.Time
	for _, s := range sends {
		got := sms[s.To]
		if !s.acked() {
			r.Failed++
			r.Failures[failure(s)]++
			if first.IsZero() || s.Start.Before(first) {
				first = s.Start
			}
			if s.End.After(last) {
				last = s.End
			}
			if len(got) > 0 {
				r.UnackedSMS++
			}
			continue
		}
		r.Acked++
		if s.Approved {
			r.Approved++
		}
		if len(got) == 0 {
			r.Lost++
			continue
		}
		r.Delivered++
		if len(got) > 1 {
			r.Duplicates++
			r.ExtraSMS += len(got) - 1
		}
		sms1 := slices.MinFunc(got, time.Time.Compare)
		waits = append(waits, max(sms1.Sub(s.End), 0))
	}
	if r.Failed > 0 {
		r.ErrorWindow = seconds(last.Sub(first))
		r.FirstFailure, r.LastFailure = seconds(first.Sub(faultAt)), seconds(last.Sub(faultAt))
	}
	slices.Sort(waits)
	if len(waits) > 0 {
		r.WaitMax = seconds(waits[len(waits)-1])
		r.WaitP50, r.WaitP99 = seconds(pct(waits, 0.50)), seconds(pct(waits, 0.99))
	}
	r.Verdict, r.Notes = verdict(r)
	return r
}

func failure(s send) string {
	if s.Status == 0 {
		return "transport error"
	}
	return fmt.Sprint(s.Status)
}

// verdict judges a row against its targets: an informational row is INFO
// whatever it lost; a run that acknowledged nothing proves nothing.
func verdict(r Row) (string, []string) {
	var why []string
	if r.Acked == 0 {
		why = append(why, "no send was acknowledged")
	}
	if r.ZeroLoss && r.Lost > 0 {
		why = append(why, fmt.Sprintf("%d acknowledged sends never got their SMS", r.Lost))
	}
	if r.MaxWait > 0 && r.WaitMax > r.MaxWait.Seconds() {
		why = append(why, fmt.Sprintf("longest 202→SMS %.1fs, target %s", r.WaitMax, r.MaxWait))
	}
	switch {
	case len(why) > 0 && (r.ZeroLoss || r.Acked == 0):
		return "FAIL", why
	case !r.ZeroLoss:
		return "INFO", why
	}
	return "PASS", nil
}

// pct is the p-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// seconds rounds to 0.1 s (+0, never -0).
func seconds(d time.Duration) float64 {
	if v := math.Round(d.Seconds()*10) / 10; v != 0 {
		return v
	}
	return 0
}

// printTable writes the rows as a markdown table.
func printTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| fault | target | 202 | failed | SMS delivered | approved | duplicates | lost | error window | 202→SMS p50 / p99 / max | result |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, r := range rows {
		window := "none"
		if r.Failed > 0 {
			window = fmt.Sprintf("%.1fs (%+.1fs to %+.1fs)", r.ErrorWindow, r.FirstFailure, r.LastFailure)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %s | %.1fs / %.1fs / %.1fs | %s |\n",
			r.Fault, r.Target, r.Acked, r.Failed, r.Delivered, r.Approved, r.Duplicates, r.Lost,
			window, r.WaitP50, r.WaitP99, r.WaitMax, r.Verdict)
	}
	for _, r := range rows {
		if len(r.Notes) > 0 {
			fmt.Fprintf(w, "\n%s %s: %s", r.Verdict, r.Fault, strings.Join(r.Notes, "; "))
		}
	}
	fmt.Fprintln(w)
}
