package main

import (
	"strings"
	"testing"
	"time"
)

// The guard judges what the simulation hands out: every range must be new,
// of its country, with PREFIX_DIGITS free digits, and every number in it a
// valid mobile number, or the api refuses the sends and the figures mean
// nothing.
func TestRangesAreDistinctValidMobileRanges(t *testing.T) {
	g := newRanges(7)
	seen := map[string]bool{}
	for _, region := range []string{"US", "GB", "DE", "BR", "IN", "ID"} {
		rs, err := g.Draw(region, 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if seen[r.Prefix] {
				t.Fatalf("%s handed out twice", r.Prefix)
			}
			seen[r.Prefix] = true
			numbers := map[string]bool{}
			for i := 0; i < 50; i++ {
				n := r.Next()
				if !strings.HasPrefix(n, r.Prefix) || len(n) != len(r.Prefix)+prefixDigits {
					t.Fatalf("%s: number %s is not in the range", r.Prefix, n)
				}
				if !validMobile(n, region) {
					t.Fatalf("%s: %s is not a valid %s mobile number", r.Prefix, n, region)
				}
				if numbers[n] {
					t.Fatalf("%s: %s handed out twice", r.Prefix, n)
				}
				numbers[n] = true
			}
		}
	}
}

// The rotating bots must touch every range once per pass, so the per-range
// rule never sees FRAUD_MIN_SENDS in one of them.
func TestRotationVisitsEveryRangeEachPass(t *testing.T) {
	rs, err := newRanges(3).Draw("ID", 50)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		intN    func(n int) int
		perPass int
	}{
		{"one send a range", func(int) int { return 0 }, 1},
		{"two sends a range", func(n int) int { return n - 1 }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rot := newRotation(rs, tt.intN)
			sends := map[*numberRange]int{}
			for k := 0; k < len(rs)*tt.perPass*3; k++ { // three passes
				sends[rot.Next()]++
			}
			if len(sends) != len(rs) {
				t.Fatalf("%d of %d ranges sent to", len(sends), len(rs))
			}
			for r, n := range sends {
				if n != 3*tt.perPass {
					t.Errorf("%s: %d sends in three passes, want %d", r.Prefix, n, 3*tt.perPass)
				}
			}
		})
	}
}

func TestScaledRefusesBelowTheServiceMinimum(t *testing.T) {
	tests := []struct {
		d, min time.Duration
		speed  float64
		want   time.Duration
		err    bool
	}{
		{time.Hour, time.Minute, 60, time.Minute, false},
		{time.Hour, time.Minute, 61, 0, true},
		{2 * time.Minute, time.Second, 60, 2 * time.Second, false},
		{10 * time.Minute, time.Millisecond, 7, 85714 * time.Millisecond, false},
	}
	for _, tt := range tests {
		got, err := scaled("X", tt.d, tt.speed, tt.min)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("scaled(%s, %v, min %s) = %s, %v; want %s, error %v", tt.d, tt.speed, tt.min, got, err, tt.want, tt.err)
		}
	}
}
