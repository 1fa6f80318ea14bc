package otp_test

import (
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/otp"
)

// sameKind fails t when numberKind names another region or type than
// libphonenumber for the number of calling code cc and national number
// nsn.
func sameKind(t *testing.T, cc int, nsn string) {
	t.Helper()
	n, err := strconv.ParseUint(nsn, 10, 64)
	if err != nil || len(nsn) == 0 || nsn[0] == '0' || len(nsn) > 17 {
		return // not a national number Parse makes (leading zeros are a field of their own)
	}
	c := int32(cc)
	num := &phonenumbers.PhoneNumber{CountryCode: &c, NationalNumber: &n}
	region, kind, ok := otp.NumberKind(cc, nsn)
	if !ok {
		t.Fatal("numberKind could not read libphonenumber's metadata")
	}
	if want := phonenumbers.GetNumberType(num); kind != want {
		t.Fatalf("+%d %s: type %v, libphonenumber %v", cc, nsn, kind, want)
	}
	if want := phonenumbers.GetRegionCodeForNumber(num); region != want {
		t.Fatalf("+%d %s: region %q, libphonenumber %q", cc, nsn, region, want)
	}
}

// Every plan's example number of every type, and the numbers a digit away
// from it (one more, one fewer, each digit changed): the same region and
// type as libphonenumber's, valid or not. TestParsePhoneAgreesWithLibphonenumber
// walks ranges of the plans many regions share.
func TestNumberKindAgreesWithLibphonenumber(t *testing.T) {
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	var examples []*phonenumbers.PhoneNumber
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range types {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				examples = append(examples, ex)
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if ex := phonenumbers.GetExampleNumberForNonGeoEntity(cc); ex != nil {
			examples = append(examples, ex)
		}
	}
	n := 0
	for _, ex := range examples {
		cc, nsn := int(ex.GetCountryCode()), strconv.FormatUint(ex.GetNationalNumber(), 10)
		variants := []string{nsn, nsn + "0", nsn + "9", nsn[:len(nsn)-1]}
		for i := range nsn {
			for _, d := range "0159" {
				variants = append(variants, nsn[:i]+string(d)+nsn[i+1:])
			}
		}
		for _, v := range variants {
			sameKind(t, cc, v)
			n++
		}
	}
	t.Logf("%d numbers of %d examples compared", n, len(examples))
	if len(examples) < 1000 {
		t.Fatalf("only %d example numbers", len(examples))
	}
}

func FuzzNumberKind(f *testing.F) {
	for _, s := range []string{"14155552671", "447911123456", "74951234567", "2626920123456", "80012345678", "12642351234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The bytes as digits: a calling code, then a national number.
		digits := make([]byte, 0, 18)
		for i := 0; i < len(s) && i < 18; i++ {
			digits = append(digits, '0'+s[i]%10)
		}
		raw := "+" + string(digits)
		cc := otp.CallingCode(raw)
		if cc == 0 {
			return
		}
		sameKind(t, cc, raw[1+len(strconv.Itoa(cc)):])
	})
}
