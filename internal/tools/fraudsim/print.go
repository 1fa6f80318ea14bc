package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func printResult(w io.Writer, res *Result) {
	printAttacks(w, res.Attacks)
	printLegit(w, res.Legit)
	printBlocks(w, res)
	if b := res.RotateBound; b != nil {
		fmt.Fprintf(w, "\ncountry rule on %s: blocked at %s with %d settled, %d approved (the guard's count); the simulation counts %d legitimate settled (%d approved) and %d attack settled in the judged span %s–%s; needed %d, bound %d, rotate SMS %d\n",
			b.Country, simDuration(b.BlockSinceSim), b.GuardSettled, b.GuardApproved, b.LegitSettled, b.LegitApproved,
			b.AttackSettled, simDuration(b.SpanFromSim), simDuration(b.SpanToSim), b.Needed, b.Bound, b.SMS)
	}
	fmt.Fprintln(w, "\ntargets:")
	for _, t := range res.Targets {
		verdict := "FAIL"
		if t.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", verdict, t.Name, t.Detail)
	}
	fmt.Fprintf(w, "\nreal run time %s", time.Duration(res.RealSeconds*float64(time.Second)).Round(time.Second))
	if res.Unattributed > 0 {
		fmt.Fprintf(w, "; %d SMS to numbers the simulation never sent to", res.Unattributed)
	}
	fmt.Fprintln(w)
}

func printAttacks(w io.Writer, attacks []AttackResult) {
	fmt.Fprintln(w, "\nattacks (times simulated; \"<blk\" = sent before the first 403 fraud_blocked was answered):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "attack\tcountry\trange(s)\tsends\t202\t202<blk\t202>blk\tSMS\tSMS<blk\tin flight\tapproved\tfirst send\tto block\tscope\t")
	for _, a := range attacks {
		name := a.Prefix
		if name == "" {
			name = fmt.Sprintf("%d (%d sent to)", a.Ranges, a.Touched)
		}
		scope := a.BlockScope
		if !a.Blocked {
			scope = "NOT BLOCKED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", a.Attack, a.Country, name, a.Sends,
			a.Accepted, a.AcceptedBeforeBlock, a.AcceptedAfterBlock, a.SMS, a.SMSBeforeBlock, a.InFlight, a.Approved,
			simDuration(a.FirstSendSim), simDuration(a.TimeToBlockSim), scope)
	}
	tw.Flush()
	for _, a := range attacks {
		fmt.Fprintf(w, "  %s %s refused: %s; first Retry-After %s; worst lateness %s\n", a.Attack, a.Prefix, counts(a.Refused),
			simDuration(a.RetryAfterSim), a.Late)
	}
}

func printLegit(w io.Writer, l LegitResult) {
	fmt.Fprintf(w, "\nlegitimate users: %d, %d accepted, %d SMS, %d codes entered, %d approved, %d accepted without an SMS in time; refused %d fraud_blocked, %d other 4xx, %d 5xx, %d transport\n",
		l.Users, l.Accepted, l.SMS, l.Entered, l.Approved, l.NoSMS, l.RefusedBy.Fraud, l.RefusedBy.Other4xx, l.RefusedBy.Server, l.RefusedBy.Transport)
	fmt.Fprintf(w, "  refused by kind: %s; failed checks: %s\n", counts(l.Refused), counts(l.CheckFailed))
	fmt.Fprintf(w, "  real latency: send p50 %.1fms p99 %.1fms max %.0fms; 202 to SMS p50 %.1fms p99 %.1fms max %.0fms; worst arrival lateness %s (simulated)\n",
		l.SendP50ms, l.SendP99ms, l.SendMaxms, l.SMSP50ms, l.SMSP99ms, l.SMSMaxms, l.Late)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "country\tranges\tusers\t202\tapproved\tfraud_blocked\tother 4xx\t5xx\tranges refused\t")
	for _, c := range l.ByCountry {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Country, c.Ranges, c.Users, c.Accepted, c.Approved,
			c.Refused.Fraud, c.Refused.Other4xx, c.Refused.Server, c.RangesRefused)
	}
	tw.Flush()
	for i, r := range l.Refusals {
		if i == 15 {
			fmt.Fprintf(w, "  … (the first %d are in the JSON)\n", len(l.Refusals))
			break
		}
		ago := "no approval in the run before"
		if r.RangeApprovalAgoSim >= 0 {
			ago = "range's last approval " + simDuration(r.RangeApprovalAgoSim) + " before"
		}
		fmt.Fprintf(w, "  refused at %s: %s %s %s (%s)\n", simDuration(r.AtSim), r.Country, r.Prefix, r.Refusal, ago)
	}
}

func printBlocks(w io.Writer, res *Result) {
	fmt.Fprintf(w, "\nblocks in force at the end (GET /v1/fraud/blocks): %d; blocks the api logged: %d\n", len(res.Blocks), res.BlocksLogged)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scope\tname\towner\tsettled\tapproved\tsince\t")
	for _, b := range res.Blocks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t\n", b.Scope, b.Name, b.Owner, b.Settled, b.Approved, simDuration(b.SinceSim))
	}
	tw.Flush()
}

// counts prints a map of counts, largest first.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func writeJSON(path string, res *Result, w io.Writer) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", path)
	return nil
}
