package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otpd/otpd/internal/messages"
)

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

// loadMessages reads the brand, WebOTP and text settings and builds the
// catalog, so that a bad template stops both processes at start-up.
func (c *Config) loadMessages(getenv func(string) string) []error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	c.Brand = strings.TrimSpace(getenv("OTP_BRAND"))
	if c.Brand == "" {
		c.Brand = "otpd"
	}
	if !validBrand(c.Brand) {
		bad("OTP_BRAND", "%q: 1 to %d letters, digits, spaces or .-&'! (a name, not a link)", c.Brand, maxBrand)
	}
	for _, b := range strings.Split(getenv("OTP_BRANDS"), ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if !validBrand(b) {
			bad("OTP_BRANDS", "%q: 1 to %d letters, digits, spaces or .-&'! (a name, not a link)", b, maxBrand)
		}
		c.Brands = append(c.Brands, b)
	}
	if c.WebOTPDomain != "" && (!hostname.MatchString(c.WebOTPDomain) || len(c.WebOTPDomain) > 253) {
		bad("OTP_WEBOTP_DOMAIN", "%q is not a host name such as example.com (no scheme, no port)", c.WebOTPDomain)
	}
	var overrides []messages.Template
	if path := strings.TrimSpace(getenv("OTP_TEMPLATES")); path != "" {
		ts, err := messages.LoadTemplates(path)
		if err != nil {
			bad("OTP_TEMPLATES", "%v", err)
		}
		overrides = ts
	}
	if m := strings.TrimSpace(getenv("OTP_MESSAGE")); m != "" {
		// The SMS text from before locales: English's.
		if strings.Count(m, "{code}") != 1 || len(m) > 320 {
			bad("OTP_MESSAGE", "must contain {code} exactly once and fit in 320 characters")
		} else {
			overrides = append(overrides, messages.Template{Locale: "en", SMS: m})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	cat, err := messages.New(messages.Options{WebOTPDomain: c.WebOTPDomain, Overrides: overrides})
	if err != nil {
		return append(errs, fmt.Errorf("OTP_TEMPLATES: %w", err))
	}
	longest := utf8.RuneCountInString(c.Brand)
	for _, b := range c.Brands {
		longest = max(longest, utf8.RuneCountInString(b))
	}
	if c.Production() && c.Channels["call"] && c.CallBudgetPerMinute == 0 {
		c.Warnings = append(c.Warnings, "CALL_BUDGET_PER_MINUTE is off: calls are capped only by the SMS budgets, although each costs more")
	}
	// Three segments cost half again; they still arrive, so this warns.
	if err := cat.Check(messages.Budget{CodeLength: c.CodeLength, BrandLength: longest}); err != nil {
		c.Warnings = append(c.Warnings, err.Error())
	}
	c.Messages = cat
	return nil
}
