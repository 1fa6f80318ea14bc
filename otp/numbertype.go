package otp

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NumberType is libphonenumber's type of a number, in lower case
// (premium_rate, toll_free, mobile …): what BLOCKED_NUMBER_TYPES names.
type NumberType string

// numberTypes names libphonenumber's types.
var numberTypes = map[phonenumbers.PhoneNumberType]NumberType{
	phonenumbers.FIXED_LINE: "fixed_line", phonenumbers.MOBILE: "mobile",
	phonenumbers.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile", phonenumbers.TOLL_FREE: "toll_free",
	phonenumbers.PREMIUM_RATE: "premium_rate", phonenumbers.SHARED_COST: "shared_cost",
	phonenumbers.VOIP: "voip", phonenumbers.PERSONAL_NUMBER: "personal_number",
	phonenumbers.PAGER: "pager", phonenumbers.UAN: "uan", phonenumbers.VOICEMAIL: "voicemail",
	phonenumbers.UNKNOWN: "unknown",
}

// NumberTypeNames are the names BLOCKED_NUMBER_TYPES may use, sorted.
func NumberTypeNames() []string {
	out := make([]string, 0, len(numberTypes))
	for _, t := range numberTypes {
		out = append(out, string(t))
	}
	slices.Sort(out)
	return out
}

// ParseNumberTypes reads BLOCKED_NUMBER_TYPES: names, comma-separated, or
// "none"; an unknown name is an error that lists them.
func ParseNumberTypes(s string) (map[NumberType]bool, error) {
	out := map[NumberType]bool{}
	if s = strings.TrimSpace(s); s == "none" {
		return out, nil
	}
	known := NumberTypeNames()
	var bad []string
	for _, part := range strings.Split(s, ",") {
		t := strings.ToLower(strings.TrimSpace(part))
		if !slices.Contains(known, t) {
			bad = append(bad, part)
			continue
		}
		out[NumberType(t)] = true
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown number type(s) %q; known: %s, or none", bad, strings.Join(known, ","))
	}
	return out, nil
}

// Type is libphonenumber's verdict on the number, found by ParsePhone.
func (p Phone) Type() NumberType { return cmp.Or(p.kind, numberTypes[phonenumbers.UNKNOWN]) }

// NumberTypeError is ErrNumberTypeBlocked with the number's type.
type NumberTypeError struct{ Type NumberType }

func (e *NumberTypeError) Error() string {
	return fmt.Sprintf("numbers of type %s cannot receive codes (BLOCKED_NUMBER_TYPES)", e.Type)
}
func (e *NumberTypeError) Unwrap() error { return ErrNumberTypeBlocked }
