package otp

import (
	"strings"
	"testing"
)

// An event id names its type, so that a queue holding only ids (the
// waiting events' index) can still say what it dropped.
func TestEventTypeOfID(t *testing.T) {
	id := "VE" + strings.Repeat("ab", 16)
	for _, tc := range []struct {
		typ           string
		attempt, step int
	}{
		{EventApproved, 0, 0},
		{EventMaxAttempts, 0, 0},
		{EventFailed, 3, 0},
		{EventDelivered, 12, 2},
		{EventStepStarted, 1, 3},
		{EventNumberLocked, 0, 0},
	} {
		e := eventID(tc.typ, id, tc.attempt, tc.step)
		if got := EventTypeOfID(e); got != tc.typ {
			t.Errorf("%s: type %q, want %q", e, got, tc.typ)
		}
	}
	for _, bad := range []string{"", "evt_", "evt_1", "evt_" + id, "evt_" + id + "x", "ev_" + id + "_" + EventApproved} {
		if got := EventTypeOfID(bad); got != "" {
			t.Errorf("%q: type %q, want none", bad, got)
		}
	}
}
