package otp_test

import (
	"testing"

	"github.com/otpd/otpd/otp"
)

const refID = "VE0123456789abcdef0123456789abcdef"

func TestAttemptRef(t *testing.T) {
	for _, c := range []struct {
		tenant  string
		attempt int
		want    string
	}{
		{"", 1, refID + ":1"},
		{"merchant", 3, refID + ":3:merchant"},
	} {
		ref := otp.AttemptRef(c.tenant, refID, c.attempt)
		if ref != c.want {
			t.Fatalf("AttemptRef = %q, want %q", ref, c.want)
		}
		tenant, id, attempt, ok := otp.ParseAttemptRef(ref)
		if !ok || tenant != c.tenant || id != refID || attempt != c.attempt {
			t.Fatalf("ParseAttemptRef(%q) = %q %q %d %v", ref, tenant, id, attempt, ok)
		}
	}
	for _, bad := range []string{"", refID, refID + ":0", refID + ":01", refID + ":x", refID + ":1:default",
		refID + ":1:Merchant", refID + ":1:a:b", "VEnothex:1", refID + ":1001", ":1", refID + ":+1"} {
		if _, _, _, ok := otp.ParseAttemptRef(bad); ok {
			t.Errorf("ParseAttemptRef(%q) accepted", bad)
		}
	}
}

func FuzzParseAttemptRef(f *testing.F) {
	f.Add(refID + ":1")
	f.Add(refID + ":2:merchant")
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		tenant, id, attempt, ok := otp.ParseAttemptRef(s)
		if !ok {
			return
		}
		// What parses is exactly what AttemptRef writes.
		if back := otp.AttemptRef(tenant, id, attempt); back != s {
			t.Fatalf("%q parsed to %q %q %d, which writes %q", s, tenant, id, attempt, back)
		}
	})
}
