package otp

import (
	"regexp"
	"strconv"
	"sync"

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
	if p := nationalPrefixes()[cc]; p != nil && p.MatchString(nsn) {
		return nil, false
	}
	var n uint64
	for i := 0; i < len(nsn); i++ {
		n = n*10 + uint64(nsn[i]-'0')
	}
	c := int32(cc)
	return &phonenumbers.PhoneNumber{CountryCode: &c, NationalNumber: &n}, true
}

// nationalPrefixes are, by calling code, the pattern of the national
// prefix that Parse may strip from a number of that code (its main
// region's national_prefix_for_parsing, anchored), nil for a plan with
// none. Built once, from libphonenumber's own metadata.
var nationalPrefixes = sync.OnceValue(func() map[int]*regexp.Regexp {
	out := map[int]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		// Every number then takes Parse's path: slower, never wrong.
		for cc := range phonenumbers.GetSupportedCallingCodes() {
			out[cc] = regexp.MustCompile(``)
		}
		return out
	}
	for _, md := range coll.GetMetadata() {
		cc := int(md.GetCountryCode())
		main := phonenumbers.GetRegionCodeForCountryCode(cc)
		if md.GetId() != main {
			continue // Parse strips by the main region's rules only
		}
		if p := md.GetNationalPrefixForParsing(); p != "" {
			out[cc] = regexp.MustCompile(`^(?:` + p + `)`)
		}
	}
	return out
})
