package otp

import (
	"testing"
	"time"
)

// approvals records what the service tells the guard of approvals; the
// rest of the port is not reached by fraudApproved.
type approvals struct {
	FraudGuard
	got []string
}

func (a *approvals) Approved(prefix, region string, _ time.Time) {
	a.got = append(a.got, region+" "+prefix)
}

// An approval vouches for its range and country, unless the number is
// spared: a safe-listed test number that types its codes must not exempt
// a pumped range from its country's block.
func TestFraudApprovedSkipsSparedNumbers(t *testing.T) {
	tests := []struct {
		name string
		mode FraudMode
		safe SafeList
		to   string
		want string
	}{
		{"counted", FraudOn, nil, "+14155552671", "US +14155552"},
		{"counted in shadow", FraudShadow, nil, "+14155552671", "US +14155552"},
		{"non-geographic", FraudOn, nil, "+80012345678", NonGeographicRegion + " +80012345"},
		{"safe number", FraudOn, SafeList{"+14155552671"}, "+14155552671", ""},
		{"safe prefix", FraudOn, SafeList{"+1415"}, "+14155552671", ""},
		{"guard off", FraudOff, nil, "+14155552671", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &approvals{}
			s := NewService(Policy{Fraud: tc.mode, SafeList: tc.safe}, Deps{Fraud: rec})
			s.fraudApproved(Verification{To: tc.to, CreatedAt: time.Now()})
			got := ""
			if len(rec.got) > 0 {
				got = rec.got[0]
			}
			if len(rec.got) > 1 || got != tc.want {
				t.Fatalf("counted %q, want %q", rec.got, tc.want)
			}
		})
	}
}

func TestParseBlockName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+14155552", "+14155552"},
		{" us ", "US"},
		{"001", NonGeographicRegion},
		{"+", ""},
		{"USA", ""},
		{"01", ""},
		{"0001", ""},
	}
	for _, tc := range tests {
		got, err := ParseBlockName(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("ParseBlockName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
