package otp

import (
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// parseE164 makes the number phonenumbers.Parse makes of raw, without
// Parse's normalising regular expressions, when raw is already E.164 as
// clients send it ("+" and digits only); ok is false when only Parse can
// tell, and the caller then parses. Half of a parse's time went to
// reading formats that such a number does not have.
//
// For "+" and digits, Parse takes the calling code that starts them and
// keeps the rest as the national number, with two exceptions, both left
// to it here: a national number with leading zeros (Italy's, kept in a
// field of their own), and one its plan's national prefix could be
// stripped from ("+44 0…"). TestParseE164AgreesWithParse and
// FuzzParseE164 hold it to Parse.
func parseE164(raw string) (num *phonenumbers.PhoneNumber, ok bool) {
	// E.164 allows 15 digits; Parse refuses fewer than 2 after the code.
	if len(raw) < 4 || len(raw) > 16 || raw[0] != '+' {
		return nil, false
	}
	for i := 1; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return nil, false
		}
	}
	cc := CallingCode(raw)
	if cc == 0 {
		return nil, false
	}
	nsn := raw[1+len(strconv.Itoa(cc)):]
	if len(nsn) < 2 || nsn[0] == '0' {
		return nil, false
	}
	// Parse strips by the rules of the code's main region, listed first.
	all, ok := numberPlans()
	if plans := all[cc]; !ok || len(plans) == 0 || plans[0].strippable(nsn) {
		return nil, false
	}
	var n uint64
	for i := 0; i < len(nsn); i++ {
		n = n*10 + uint64(nsn[i]-'0')
	}
	c := int32(cc)
	return &phonenumbers.PhoneNumber{CountryCode: &c, NationalNumber: &n}, true
}
