package otp_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

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
		"+8801712345678": 880, "": 0, "14155552671": 0, "+": 0, "+0": 0, "+07012": 0, "+x1": 0,
	} {
		if got := otp.CallingCode(in); got != want {
			t.Errorf("CallingCode(%q) = %d, want %d", in, got, want)
		}
	}
}

// ParsePhone validates by the number's type; that must accept exactly
// what libphonenumber's IsValidNumber accepts, and name the region
// GetRegionCodeForNumber names and the type GetNumberType names, across plans with many regions (+1, +7,
// +44, +262) and numbers valid and not.
func TestParsePhoneAgreesWithLibphonenumber(t *testing.T) {
	seeds := []string{"+1415555", "+1264235", "+1876555", "+1340712", "+1649231", "+1800555", "+1900555",
		"+4479111", "+4420794", "+4415242", "+4475574", "+7495123", "+7701123", "+2626920", "+2622625",
		"+3361234", "+3312345", "+9172081", "+8613800", "+5511987", "+3906123", "+4915123", "+6112345"}
	n := 0
	for _, seed := range seeds {
		for tail := 0; tail < 10000; tail += 37 {
			for _, width := range []int{3, 4, 5} {
				raw := seed + fmt.Sprintf("%0*d", width, tail%int(math.Pow10(width)))
				num, err := phonenumbers.Parse(raw, "US")
				p, perr := otp.ParsePhone(raw, "US")
				want := err == nil && phonenumbers.IsValidNumber(num)
				if want != (perr == nil) {
					t.Fatalf("%s: ParsePhone %v, IsValidNumber %v", raw, perr, want)
				}
				if want && p.Region != phonenumbers.GetRegionCodeForNumber(num) {
					t.Fatalf("%s: region %s, libphonenumber %s", raw, p.Region, phonenumbers.GetRegionCodeForNumber(num))
				}
				if kind := phonenumbers.GetNumberType(num); want && (p.Type() != otp.TypeName(kind) ||
					p.Mobile() != (kind == phonenumbers.MOBILE || kind == phonenumbers.FIXED_LINE_OR_MOBILE)) {
					t.Fatalf("%s: type %s mobile %v, libphonenumber %v", raw, p.Type(), p.Mobile(), kind)
				}
				n++
			}
		}
	}
	t.Logf("%d numbers compared", n)
}

// BenchmarkParsePhone is what every send asks of a number: parse,
// validate, region, and the type that BLOCKED_NUMBER_TYPES judges.
func BenchmarkParsePhone(b *testing.B) {
	nums := []string{"+14155552671", "(415) 555-2671", "+447911123456", "+33612345678", "+12642351234"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, err := otp.ParsePhone(nums[i%len(nums)], "US")
		if err != nil || p.Type() == "unknown" {
			b.Fatal(p, err)
		}
		i++
	}
}
