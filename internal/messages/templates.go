package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

// Template is an operator's text for one locale (OTP_TEMPLATES): it
// replaces the built-in texts it names, or adds a locale.
type Template struct {
	Locale   string `json:"-"`
	SMS      string `json:"sms"`
	WhatsApp string `json:"whatsapp"`
	Call     string `json:"call"`
	// Language and Voice are the call's <Say> attributes.
	Language string `json:"language"`
	Voice    string `json:"voice"`
}

// LoadTemplates reads an OTP_TEMPLATES file: a JSON object from locale
// (BCP 47) to its texts, for example
//
//	{"fr": {"sms": "{brand} : votre code est {code}"},
//	 "sw": {"sms": "Nambari yako ya {brand} ni {code}",
//	        "call": "Nambari yako ya {brand} ni {code}", "language": "sw-KE"}}
//
// Every problem is reported at once.
func LoadTemplates(path string) ([]Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTemplates(b)
}

// ParseTemplates reads what LoadTemplates reads, from memory.
func ParseTemplates(b []byte) ([]Template, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("templates: not a JSON object of locales: %w", err)
	}
	locales := make([]string, 0, len(raw))
	for k := range raw {
		locales = append(locales, k)
	}
	sort.Strings(locales)
	var out []Template
	var errs []error
	for _, loc := range locales {
		var t Template
		dec := json.NewDecoder(bytes.NewReader(raw[loc]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", loc, err))
			continue
		}
		t.Locale = loc
		if err := t.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", loc, err))
			continue
		}
		out = append(out, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("templates:\n%w", err)
	}
	return out, nil
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func (t Template) validate() error {
	if _, err := language.Parse(t.Locale); err != nil {
		return fmt.Errorf("not a BCP 47 language tag")
	}
	var errs []error
	text := func(name, s string, codes int) {
		if s == "" {
			return
		}
		for _, p := range placeholder.FindAllString(s, -1) {
			if p != "{code}" && p != "{brand}" {
				errs = append(errs, fmt.Errorf("%s: unknown placeholder %s (only {code} and {brand})", name, p))
			}
		}
		switch n := strings.Count(s, "{code}"); {
		case codes == 1 && n != 1:
			errs = append(errs, fmt.Errorf("%s: needs {code} exactly once", name))
		case n < 1:
			errs = append(errs, fmt.Errorf("%s: needs {code}", name))
		}
		if strings.Count(s, "{brand}") > 1 {
			errs = append(errs, fmt.Errorf("%s: {brand} at most once", name))
		}
	}
	text("sms", t.SMS, 1)
	text("whatsapp", t.WhatsApp, 1)
	text("call", t.Call, 2)
	// A call says its text twice in inline TwiML, which Twilio caps at
	// 4,000 characters.
	if len(t.Call) > 1000 {
		errs = append(errs, errors.New("call: over 1,000 characters"))
	}
	if t.SMS == "" && t.WhatsApp == "" && t.Call == "" && t.Voice == "" && t.Language == "" {
		errs = append(errs, errors.New("no text"))
	}
	if t.Language != "" {
		if _, err := language.Parse(t.Language); err != nil {
			errs = append(errs, fmt.Errorf("language %q is not a language tag", t.Language))
		}
	}
	return errors.Join(errs...)
}

// override applies a template: to the built-in locale it names, or as a
// new locale, which then needs its own SMS text (and, to be called, its own
// speech and language; without them a call speaks English).
func (c *Catalog) override(t Template) error {
	id := t.Locale
	for _, known := range c.ids {
		if strings.EqualFold(known, t.Locale) {
			id = known
		}
	}
	e, ok := c.entries[id]
	if !ok {
		if t.SMS == "" {
			return fmt.Errorf("templates: %s: a new locale needs an sms text", t.Locale)
		}
		if t.Call != "" && t.Language == "" {
			return fmt.Errorf("templates: %s: a call text needs its language", t.Locale)
		}
		tag, _ := language.Parse(t.Locale)
		e = &entry{id: id, tag: tag.String()}
	} else {
		copied := *e
		e = &copied
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&e.sms, t.SMS)
	set(&e.whatsapp, t.WhatsApp)
	set(&e.call, t.Call)
	set(&e.lang, t.Language)
	set(&e.voice, t.Voice)
	c.add(e)
	return nil
}
