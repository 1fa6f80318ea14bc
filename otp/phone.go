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
	num         *phonenumbers.PhoneNumber
}

// Mobile is libphonenumber's verdict: mobile, or a plan where mobile and
// fixed-line numbers cannot be told apart (US, CA …). It is computed on
// demand: the type lookup costs as much as the whole parse.
func (p Phone) Mobile() bool {
	return p.num != nil && isMobile(phonenumbers.GetNumberType(p.num))
}

// CallingCode returns the country calling code of an E.164 number without
// parsing it (0 when there is none): calling codes are prefix-free, so the
// first 1 to 3 digits that name one are it.
func CallingCode(e164 string) int {
	if len(e164) < 2 || e164[0] != '+' {
		return 0
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

func isMobile(t phonenumbers.PhoneNumberType) bool {
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// ParsePhone validates raw and normalises it to E.164. A number without a
// leading + is read in defaultRegion's national format.
func ParsePhone(raw, defaultRegion string) (Phone, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxPhoneInput || !utf8.ValidString(raw) {
		return Phone{}, ErrInvalidPhone
	}
	num, err := phonenumbers.Parse(raw, defaultRegion)
	if err != nil {
		return Phone{}, ErrInvalidPhone
	}
	// IsValidNumber is exactly this, but finding the region is half the
	// cost of a parse: it runs the type patterns of the number's plan, so
	// it is done once, not again for the Region field.
	region := phonenumbers.GetRegionCodeForNumber(num)
	if !phonenumbers.IsValidNumberForRegion(num, region) {
		return Phone{}, ErrInvalidPhone
	}
	return Phone{
		E164:        phonenumbers.Format(num, phonenumbers.E164),
		Region:      region,
		CountryCode: int(num.GetCountryCode()),
		num:         num,
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
