package otp

import (
	"net/netip"
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
	// kind is libphonenumber's type, found with the number's validity:
	// one lookup serves both. "" in a Phone that no parse made.
	kind NumberType
}

// Mobile is libphonenumber's verdict: mobile, or a plan where mobile and
// fixed-line numbers cannot be told apart (US, CA …).
func (p Phone) Mobile() bool {
	return p.kind == numberTypes[phonenumbers.MOBILE] || p.kind == numberTypes[phonenumbers.FIXED_LINE_OR_MOBILE]
}

// CallingCode returns the country calling code of an E.164 number without
// parsing it (0 when there is none): calling codes are prefix-free, so the
// first 1 to 3 digits that name one are it.
func CallingCode(e164 string) int {
	if len(e164) < 2 || e164[0] != '+' || e164[1] == '0' {
		return 0 // no calling code starts with 0
	}
	cc := 0
	for i := 1; i <= 3 && i < len(e164); i++ {
		d := e164[i]
		if d < '0' || d > '9' {
			return 0
		}
		cc = cc*10 + int(d-'0')
		if phonenumbers.GetSupportedCallingCodes()[cc] {
			return cc
		}
	}
	return 0
}

// Prefix is the number without its last n digits: the range that SMS
// pumping walks through.
func (p Phone) Prefix(n int) string {
	if n >= len(p.E164)-2 {
		return p.E164[:2]
	}
	return p.E164[:len(p.E164)-n]
}

// ParsePhone validates raw and normalises it to E.164. A number without a
// leading + is read in defaultRegion's national format.
func ParsePhone(raw, defaultRegion string) (Phone, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxPhoneInput || !utf8.ValidString(raw) {
		return Phone{}, ErrInvalidPhone
	}
	num, ok := parseE164(raw)
	if !ok {
		var err error
		if num, err = phonenumbers.Parse(raw, defaultRegion); err != nil {
			return Phone{}, ErrInvalidPhone
		}
	}
	// A number is valid exactly when its plan gives it a type
	// (IsValidNumber runs the same type patterns and compares with
	// UNKNOWN), and every send needs the type (BLOCKED_NUMBER_TYPES): one
	// lookup serves both, and finds the region on the way.
	cc := int(num.GetCountryCode())
	region, kind, ok := numberKind(cc, phonenumbers.GetNationalSignificantNumber(num))
	if !ok {
		region, kind = phonenumbers.GetRegionCodeForNumber(num), phonenumbers.GetNumberType(num)
	}
	if kind == phonenumbers.UNKNOWN {
		return Phone{}, ErrInvalidPhone
	}
	return Phone{
		E164:        phonenumbers.Format(num, phonenumbers.E164),
		Region:      region,
		CountryCode: cc,
		kind:        numberTypes[kind],
	}, nil
}

// NormalizeIP validates an end user's IP and returns the key limits use:
// IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 as its /64, because one
// subscriber line gets a whole /64 and could rotate through it.
func NormalizeIP(s string) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || addr.Zone() != "" {
		return "", &InputError{Detail: `field "clientIp" must be an IPv4 or IPv6 address`}
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String(), nil
	}
	p, _ := addr.Prefix(64)
	return p.String(), nil
}
