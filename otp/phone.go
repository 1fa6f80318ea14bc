package otp

import (
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput bounds what reaches libphonenumber: no real number, however
// formatted, is longer, and the parser is not built for hostile megabytes.
const maxPhoneInput = 64

// Phone is a validated number.
type Phone struct {
	E164        string
	Region      string // ISO 3166-1 alpha-2, "" when unknown
	CountryCode int    // calling code, e.g. 1, 44
}

// ParsePhone validates raw and normalises it to E.164. A number without a
// leading + is read in defaultRegion's national format.
func ParsePhone(raw, defaultRegion string) (Phone, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxPhoneInput || !utf8.ValidString(raw) {
		return Phone{}, ErrInvalidPhone
	}
	num, err := phonenumbers.Parse(raw, defaultRegion)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return Phone{}, ErrInvalidPhone
	}
	return Phone{
		E164:        phonenumbers.Format(num, phonenumbers.E164),
		Region:      phonenumbers.GetRegionCodeForNumber(num),
		CountryCode: int(num.GetCountryCode()),
	}, nil
}
