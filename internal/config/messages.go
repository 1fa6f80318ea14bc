package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otpd/otpd/internal/messages"
)

// Messages is what a message says: the brand, the texts and WebOTP.
type Messages struct {
	// Brand (OTP_BRAND) names the service in every message; Brands
	// (OTP_BRANDS) are the others a request may choose.
	Brand  string
	Brands []string
	// WebOTPDomain ends SMS with "@domain #code" for browsers' WebOTP API.
	WebOTPDomain string
	// Catalog is the texts: built-in, then OTP_TEMPLATES and OTP_MESSAGE.
	Catalog *messages.Catalog
}

// maxBrand is the longest brand: the texts are budgeted for it.
const maxBrand = 30

// validBrand allows letters, digits, spaces and a little punctuation: a
// brand is a name, and must never carry a link or a phone number to call.
func validBrand(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > maxBrand || strings.TrimSpace(s) != s {
		return false
	}
	digits := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsMark(r):
		case unicode.IsDigit(r):
			digits++
		case r == ' ' || r == '-' || r == '.' || r == '&' || r == '\'' || r == '!':
		default:
			return false
		}
	}
	return digits < 6 && !linkish.MatchString(s)
}

// linkish catches what a brand must not smuggle into a message: a scheme,
// www, or a dot followed by letters (bit.ly, paypal-login.com).
var linkish = regexp.MustCompile(`(?i)https?|www|\.\pL`)

var hostname = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// messages reads the brand, WebOTP and text settings and builds the
// catalog, so that a bad template stops both processes at start-up. The
// texts are budgeted for the code's length and the longest brand.
func (e *env) messages(c *Config) {
	m, before := &c.Messages, len(e.errs)
	m.Brand = e.str("OTP_BRAND", "otpd")
	if !validBrand(m.Brand) {
		e.bad("OTP_BRAND", "%q: 1 to %d letters, digits, spaces or .-&'! (a name, not a link)", m.Brand, maxBrand)
	}
	longest := utf8.RuneCountInString(m.Brand)
	for _, b := range strings.Split(e.get("OTP_BRANDS"), ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if !validBrand(b) {
			e.bad("OTP_BRANDS", "%q: 1 to %d letters, digits, spaces or .-&'! (a name, not a link)", b, maxBrand)
		}
		m.Brands = append(m.Brands, b)
		longest = max(longest, utf8.RuneCountInString(b))
	}
	m.WebOTPDomain = strings.ToLower(e.str("OTP_WEBOTP_DOMAIN", ""))
	if m.WebOTPDomain != "" && (!hostname.MatchString(m.WebOTPDomain) || len(m.WebOTPDomain) > 253) {
		e.bad("OTP_WEBOTP_DOMAIN", "%q is not a host name such as example.com (no scheme, no port)", m.WebOTPDomain)
	}
	overrides := e.templates()
	if len(e.errs) > before {
		return
	}
	cat, err := messages.New(messages.Options{WebOTPDomain: m.WebOTPDomain, Overrides: overrides})
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("OTP_TEMPLATES: %w", err))
		return
	}
	// Three segments cost half again; they still arrive, so this warns.
	if err := cat.Check(messages.Budget{CodeLength: c.Codes.Length, BrandLength: longest}); err != nil {
		e.warn(err.Error())
	}
	m.Catalog = cat
}

// templates reads OTP_TEMPLATES and OTP_MESSAGE.
func (e *env) templates() (overrides []messages.Template) {
	if path := e.raw("OTP_TEMPLATES"); path != "" {
		ts, err := messages.LoadTemplates(path)
		if err != nil {
			e.bad("OTP_TEMPLATES", "%v", err)
		}
		overrides = ts
	}
	if m := e.raw("OTP_MESSAGE"); m != "" {
		// The SMS text from before locales: English's.
		if strings.Count(m, "{code}") != 1 || len(m) > 320 {
			e.bad("OTP_MESSAGE", "must contain {code} exactly once and fit in 320 characters")
		} else {
			overrides = append(overrides, messages.Template{Locale: "en", SMS: m})
		}
	}
	return overrides
}

func (m Messages) attrs() []slog.Attr {
	return []slog.Attr{slog.String("otp_brand", m.Brand), slog.Any("otp_brands", m.Brands),
		slog.String("otp_webotp_domain", m.WebOTPDomain)}
}
