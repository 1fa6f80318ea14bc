package otp_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otpd/otpd/otp"
)

func TestParsePhone(t *testing.T) {
	for _, tc := range []struct {
		in, region, want string
		cc               int
	}{
		{"+14155552671", "US", "+14155552671", 1},
		{"(415) 555-2671", "US", "+14155552671", 1},
		{" +1 415 555 2671 ", "", "+14155552671", 1},
		{"+44 7911 123456", "US", "+447911123456", 44},
		{"07911 123456", "GB", "+447911123456", 44},
		{"+49 1512 3456789", "US", "+4915123456789", 49},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := otp.ParsePhone(tc.in, tc.region)
			if err != nil || p.E164 != tc.want || p.CountryCode != tc.cc {
				t.Fatalf("ParsePhone(%q) = %+v, %v", tc.in, p, err)
			}
		})
	}
	for _, bad := range []string{"", "   ", "abc", "+1", "12", "+999999999999", "(415) 555-2671",
		strings.Repeat("1", 100), "+1415555267\x00", "\xff\xfe"} {
		region := ""
		if _, err := otp.ParsePhone(bad, region); !errors.Is(err, otp.ErrInvalidPhone) {
			t.Errorf("ParsePhone(%q): want ErrInvalidPhone, got %v", bad, err)
		}
	}
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"+14155552671", "(415) 555-2671", "+44 7911 123456", "0", "+", "++1", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := otp.ParsePhone(in, "US")
		if err != nil {
			return
		}
		if !strings.HasPrefix(p.E164, "+") || len(p.E164) > 16 || !utf8.ValidString(p.E164) {
			t.Fatalf("ParsePhone(%q) = %q", in, p.E164)
		}
		again, err := otp.ParsePhone(p.E164, "")
		if err != nil || again.E164 != p.E164 {
			t.Fatalf("E.164 %q does not round-trip: %q, %v", p.E164, again.E164, err)
		}
	})
}

func TestCallingCode(t *testing.T) {
	for in, want := range map[string]int{
		"+14155552671": 1, "+447400123456": 44, "+4915123456789": 49, "+35312345678": 353,
		"+8801712345678": 880, "": 0, "14155552671": 0, "+": 0, "+0": 0, "+x1": 0,
	} {
		if got := otp.CallingCode(in); got != want {
			t.Errorf("CallingCode(%q) = %d, want %d", in, got, want)
		}
	}
}
