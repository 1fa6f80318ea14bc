package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTally(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ok := func(to string, end float64, approved bool) send {
		return send{To: to, ID: "v-" + to, Start: at(end - 0.1), End: at(end), Status: 202, Approved: approved}
	}
	failed := func(to string, start, end float64, status int) send {
		return send{To: to, Start: at(start), End: at(end), Status: status}
	}
	zeroLoss := Row{Fault: "f", ZeroLoss: true}
	tests := []struct {
		name  string
		row   Row
		sends []send
		sms   map[string][]time.Time
		check func(t *testing.T, r Row)
	}{
		{"all delivered once", zeroLoss,
			[]send{ok("a", 1, true), ok("b", 2, true), ok("c", 3, false)},
			map[string][]time.Time{"a": {at(1.5)}, "b": {at(2.2)}, "c": {at(4)}},
			func(t *testing.T, r Row) {
				want := Row{Sent: 3, Acked: 3, Delivered: 3, Approved: 2, WaitMax: 1, WaitP50: 0.5, WaitP99: 1, Verdict: "PASS"}
				same(t, r, want)
			}},
		{"a lost acknowledged send fails a zero-loss fault", zeroLoss,
			[]send{ok("a", 1, true), ok("b", 2, false)},
			map[string][]time.Time{"a": {at(1.2)}},
			func(t *testing.T, r Row) {
				same(t, r, Row{Sent: 2, Acked: 2, Delivered: 1, Approved: 1, Lost: 1, WaitMax: 0.2, WaitP50: 0.2, WaitP99: 0.2, Verdict: "FAIL"})
				if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "1 acknowledged sends never got their SMS") {
					t.Errorf("notes %q", r.Notes)
				}
			}},
		{"and is only counted in an informational one", Row{Fault: "f"},
			[]send{ok("a", 1, true), ok("b", 2, false)},
			map[string][]time.Time{"a": {at(1.2)}},
			func(t *testing.T, r Row) {
				same(t, r, Row{Sent: 2, Acked: 2, Delivered: 1, Approved: 1, Lost: 1, WaitMax: 0.2, WaitP50: 0.2, WaitP99: 0.2, Verdict: "INFO"})
			}},
		{"duplicates, failures and their window", zeroLoss,
			[]send{ok("a", 1, true), failed("x", 9.5, 10, 0), failed("y", 11, 11.2, 503), failed("z", 12, 13, 503), ok("b", 14, true)},
			map[string][]time.Time{"a": {at(3), at(1.5), at(70)}, "y": {at(12)}, "b": {at(14.1)}},
			func(t *testing.T, r Row) {
				same(t, r, Row{Sent: 5, Acked: 2, Failed: 3, Delivered: 2, Approved: 2, Duplicates: 1, ExtraSMS: 2, UnackedSMS: 1,
					ErrorWindow: 3.5, FirstFailure: -0.5, LastFailure: 3, WaitMax: 0.5, WaitP50: 0.1, WaitP99: 0.5, Verdict: "PASS"})
				if r.Failures["transport error"] != 1 || r.Failures["503"] != 2 {
					t.Errorf("failures %v", r.Failures)
				}
			}},
		{"nothing acknowledged fails even an informational fault", Row{Fault: "f"},
			[]send{failed("x", 9, 10, 0)}, nil,
			func(t *testing.T, r Row) {
				same(t, r, Row{Sent: 1, Failed: 1, ErrorWindow: 1, FirstFailure: -1, Verdict: "FAIL"})
			}},
		{"a wait target", Row{Fault: "f", ZeroLoss: true, MaxWait: 15 * time.Second},
			[]send{ok("a", 1, true), ok("b", 2, true)},
			map[string][]time.Time{"a": {at(2)}, "b": {at(63)}},
			func(t *testing.T, r Row) {
				same(t, r, Row{Sent: 2, Acked: 2, Delivered: 2, Approved: 2, WaitMax: 61, WaitP50: 1, WaitP99: 61, Verdict: "FAIL"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, tally(tt.row, tt.sends, tt.sms, at(10)))
		})
	}
}

// same compares the counted fields of got with want.
func same(t *testing.T, got, want Row) {
	t.Helper()
	type counts struct {
		Sent, Acked, Failed, Delivered, Approved, Duplicates, ExtraSMS, Lost, UnackedSMS int
		ErrorWindow, FirstFailure, LastFailure, WaitMax, WaitP50, WaitP99                float64
		Verdict                                                                          string
	}
	c := func(r Row) counts {
		return counts{r.Sent, r.Acked, r.Failed, r.Delivered, r.Approved, r.Duplicates, r.ExtraSMS, r.Lost, r.UnackedSMS,
			r.ErrorWindow, r.FirstFailure, r.LastFailure, r.WaitMax, r.WaitP50, r.WaitP99, r.Verdict}
	}
	if c(got) != c(want) {
		t.Errorf("got  %+v\nwant %+v", c(got), c(want))
	}
}

func TestPct(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Second)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Second}, {0.99, 99 * time.Second}, {1, 100 * time.Second}, {0, time.Second}} {
		if got := pct(d, tt.p); got != tt.want {
			t.Errorf("pct(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := pct([]time.Duration{3 * time.Second}, 0.99); got != 3*time.Second {
		t.Errorf("pct of one = %v", got)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, []Row{
		{Fault: "api-kill", Target: "0 lost", Acked: 10, Failed: 2, Delivered: 10, ErrorWindow: 3, FirstFailure: 0, LastFailure: 3, Verdict: "PASS"},
		{Fault: "sentinel-failover", Target: "informational", Acked: 9, Delivered: 8, Lost: 1, Verdict: "INFO", Notes: []string{"why"}},
	})
	for _, want := range []string{
		"| api-kill | 0 lost | 10 | 2 | 10 | 0 | 0 | 0 | 3.0s (+0.0s to +3.0s) |",
		"| sentinel-failover | informational | 9 | 0 | 8 | 0 | 0 | 1 | none |",
		"INFO sentinel-failover: why",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		rate    float64
		outage  time.Duration
		out     string
		drain   bool
		wantErr bool
	}{
		{[]string{}, 15, 60 * time.Second, "bin/chaos-result.json", true, false},
		{[]string{"-short"}, 10, 15 * time.Second, "bin/chaos-result.json", false, false},
		{[]string{"-short", "-rate", "20", "-bin", "b"}, 20, 15 * time.Second, "b/chaos-result.json", false, false},
		{[]string{"-twilio-outage", "30s", "-short", "-out", "x.json"}, 10, 30 * time.Second, "x.json", false, false},
		{[]string{"-rate", "0"}, 0, 0, "", false, true},
		{[]string{"-short", "-drain-queues"}, 10, 15 * time.Second, "bin/chaos-result.json", true, false},
	} {
		o, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err %v", tt.args, err)
			continue
		}
		if !tt.wantErr && (o.rate != tt.rate || o.outage != tt.outage || o.out != tt.out || o.drainQueues != tt.drain) {
			t.Errorf("%v: rate %v outage %v out %q drain-queues %v", tt.args, o.rate, o.outage, o.out, o.drainQueues)
		}
	}
}

func TestChosen(t *testing.T) {
	for _, tt := range []struct {
		list, name string
		want       bool
	}{
		{"api-kill", "api-kill", true},
		{"worker-kill, api-kill", "api-kill", true},
		{"sentinel-failover", "sentinel-failover-min-replicas-1", false},
		{"api", "api-kill", false},
	} {
		if got := chosen(tt.list, tt.name); got != tt.want {
			t.Errorf("chosen(%q, %q) = %v", tt.list, tt.name, got)
		}
	}
}
