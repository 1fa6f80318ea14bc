package otp_test

import (
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/otp"
)

// sameAsParse fails t when parseE164 took raw and made another number
// than phonenumbers.Parse makes of it; it says whether it took raw.
func sameAsParse(t *testing.T, raw string) bool {
	t.Helper()
	got, ok := otp.ParseE164(raw)
	if !ok {
		return false
	}
	want, err := phonenumbers.Parse(raw, "")
	if err != nil {
		t.Fatalf("%q: parseE164 took it, Parse refused it: %v", raw, err)
	}
	if got.GetCountryCode() != want.GetCountryCode() || got.GetNationalNumber() != want.GetNationalNumber() ||
		got.GetItalianLeadingZero() != want.GetItalianLeadingZero() ||
		got.GetNumberOfLeadingZeros() != want.GetNumberOfLeadingZeros() || got.GetExtension() != want.GetExtension() {
		t.Fatalf("%q: parseE164 %v, Parse %v", raw, got, want)
	}
	return true
}

// Every region's example numbers of every type, as E.164 and with what
// Parse would strip or keep apart put in front of the national number (a
// national prefix, a zero), or a digit more or fewer: parseE164 either
// leaves a number to Parse or makes the number Parse makes. And it takes
// the plain E.164 of most, or it saves nothing.
func TestParseE164AgreesWithParse(t *testing.T) {
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	plain, took, tried := 0, 0, 0
	for region := range phonenumbers.GetSupportedRegions() {
		cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
		ndd := phonenumbers.GetNddPrefixForRegion(region, true)
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			e164 := phonenumbers.Format(ex, phonenumbers.E164)
			plain++
			if sameAsParse(t, e164) {
				took++
			}
			for _, raw := range []string{"+" + cc + ndd + nsn, "+" + cc + "0" + nsn, "+" + cc + "00" + nsn,
				e164 + "1", e164[:len(e164)-1], "+" + cc + nsn[:1], "+" + cc + "1" + nsn} {
				sameAsParse(t, raw)
				tried++
			}
		}
	}
	t.Logf("took %d of %d example numbers; %d variants compared", took, plain, tried)
	if took < plain*3/4 {
		t.Fatalf("parseE164 took %d of %d example numbers in E.164", took, plain)
	}
}

func FuzzParseE164(f *testing.F) {
	for _, s := range []string{"+14155552671", "+114155552671", "+447911123456", "+4407911123456",
		"+390612345678", "+5491123456789", "+8613800138000", "+", "+1", "+0012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		sameAsParse(t, raw)
		// And the same bytes as digits: most of what a fuzzer makes is
		// no number at all.
		digits := []byte("+")
		for i := 0; i < len(raw) && i < 15; i++ {
			digits = append(digits, '0'+raw[i]%10)
		}
		sameAsParse(t, string(digits))
	})
}
