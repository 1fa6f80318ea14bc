// Package messages holds what a verification says to its user: the texts of
// each locale and channel, the choice of locale (golang.org/x/text/language),
// and the rendering of a code into an SMS, a WhatsApp text or a call's
// speech, with the Android SMS Retriever and WebOTP lines. It also counts
// SMS segments, since every segment is billed.
package messages

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// The channels a code can take.
const (
	SMS      = "sms"
	WhatsApp = "whatsapp"
	Call     = "call"
)

// entry is one locale's texts. whatsapp falls back to sms.
type entry struct {
	id, tag   string // the locale's name in the API, and the tag it matches as
	sms, call string
	whatsapp  string
	lang      string // <Say language>
	voice     string // <Say voice>; "" is Google's standard voice for lang
}

// Catalog is the set of locales with their texts: the built-ins, with an
// operator's overrides and additions on top.
type Catalog struct {
	entries map[string]*entry
	ids     []string
	matcher language.Matcher
	webOTP  string
}

// Options configures a catalog.
type Options struct {
	// WebOTPDomain, when set, ends every SMS with the origin-bound line
	// "@domain #code" that browsers read for the WebOTP API.
	WebOTPDomain string
	// Overrides replace or add texts (OTP_TEMPLATES); see ParseTemplates.
	Overrides []Template
}

// New builds the catalog: built-in texts, then overrides.
func New(o Options) (*Catalog, error) {
	c := &Catalog{entries: map[string]*entry{}, webOTP: o.WebOTPDomain}
	for i := range builtin {
		e := builtin[i]
		c.add(&e)
	}
	for _, t := range o.Overrides {
		if err := c.override(t); err != nil {
			return nil, err
		}
	}
	tags := make([]language.Tag, len(c.ids))
	for i, id := range c.ids {
		tags[i] = language.MustParse(c.entries[id].tag)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

func (c *Catalog) add(e *entry) {
	if _, ok := c.entries[e.id]; !ok {
		c.ids = append(c.ids, e.id)
	}
	c.entries[e.id] = e
}

// Locales lists the locales the catalog speaks, English first.
func (c *Catalog) Locales() []string { return append([]string(nil), c.ids...) }

// aliases are base languages a supported one stands in for.
var aliases = map[string]string{"no": "nb", "nn": "nb", "yue": "zh"}

// Match finds the catalog's locale for a BCP 47 tag a client asked for:
// "fr-CA" is French, "zh-Hant" Taiwanese Chinese, "pt" European
// Portuguese. ok is false for a tag of a language the catalog does not
// speak; a client that asked for Swahili must not get English silently.
func (c *Catalog) Match(tag string) (locale string, ok bool) {
	tag = strings.TrimSpace(tag)
	if strings.EqualFold(tag, "pt") {
		tag = "pt-PT"
	}
	t, err := language.Parse(tag)
	if err != nil {
		return "", false
	}
	id, conf := c.match(t)
	if conf == language.No {
		return "", false
	}
	want, _ := t.Base()
	got, _ := language.MustParse(c.entries[id].tag).Base()
	if want != got && aliases[want.String()] != got.String() {
		return "", false
	}
	return id, true
}

// match is the matcher's choice, except for Chinese: the matcher sends
// traditional Chinese to the first Hant locale whatever the region, and
// knows no Cantonese. Hong Kong and Macau read Cantonese, everyone else who
// writes traditional characters (Taiwan) Mandarin.
func (c *Catalog) match(t language.Tag) (string, language.Confidence) {
	if base, _ := t.Base(); base.String() == "yue" {
		if _, ok := c.entries["zh-HK"]; ok {
			return "zh-HK", language.High // Cantonese is written as in Hong Kong
		}
	}
	if base, _ := t.Base(); base.String() == "zh" {
		if script, _ := t.Script(); script.String() == "Hant" {
			id := "zh-TW"
			if region, _ := t.Region(); region.String() == "HK" || region.String() == "MO" {
				id = "zh-HK"
			}
			if _, ok := c.entries[id]; ok {
				return id, language.High
			}
		}
	}
	_, i, conf := c.matcher.Match(t)
	return c.ids[i], conf
}

// ForRegion is the locale for a number of an ISO 3166 region when the
// client gave none: the region's main language as spoken there, when the
// catalog speaks it (+33 French, +55 Brazilian Portuguese, +244 European
// Portuguese), else English.
func (c *Catalog) ForRegion(region string) string {
	r, err := language.ParseRegion(region)
	if err != nil {
		return c.ids[0]
	}
	und, err := language.Compose(language.Und, r)
	if err != nil {
		return c.ids[0]
	}
	// "und-AO" alone matches Brazilian Portuguese; "pt-AO" matches how
	// Portuguese is written in Angola.
	base, _ := und.Base()
	t, err := language.Compose(base, r)
	if err != nil {
		return c.ids[0]
	}
	id, conf := c.match(t)
	if conf < language.High {
		return c.ids[0]
	}
	return id
}

// Params is what one message says.
type Params struct {
	Locale  string // a locale of the catalog; unknown ones read as English
	Channel string
	Brand   string
	Code    string
	// AppHash adds the Android SMS Retriever line (SMS only).
	AppHash string
}

// Rendered is a message ready for the gateway.
type Rendered struct {
	// Text is the SMS or WhatsApp text, or what a call says.
	Text string
	// Language and Voice are the call's <Say> attributes.
	Language, Voice string
}

// Render writes the message of p. An SMS is the locale's text, then the
// app hash line, then the WebOTP line, which must be the last:
//
//	Your Acme verification code is: 123456
//
//	FA+9qCX9VSu
//
//	@example.com #123456
//
// A call says the code digit by digit ("1, 2, 3, 4, 5, 6"), slowly enough
// to write down.
func (c *Catalog) Render(p Params) Rendered {
	e := c.entries[p.Locale]
	if e == nil {
		e = c.entries[c.ids[0]]
	}
	switch p.Channel {
	case Call:
		if e.call == "" {
			e = c.entries[c.ids[0]] // a locale added without speech is called in English
		}
		return Rendered{Text: fill(e.call, p.Brand, spoken(p.Code)), Language: e.lang, Voice: e.sayVoice()}
	case WhatsApp:
		return Rendered{Text: fill(e.whatsappText(), p.Brand, p.Code)}
	}
	text := fill(e.sms, p.Brand, p.Code)
	if p.AppHash != "" {
		text += "\n\n" + p.AppHash
	}
	if c.webOTP != "" {
		text += "\n\n@" + c.webOTP + " #" + p.Code
	}
	return Rendered{Text: text}
}

func (e *entry) whatsappText() string {
	if e.whatsapp != "" {
		return e.whatsapp
	}
	return e.sms
}

func (e *entry) sayVoice() string {
	if e.voice != "" {
		return e.voice
	}
	return "Google." + e.lang + "-Standard-A"
}

func fill(text, brand, code string) string {
	return strings.NewReplacer("{brand}", brand, "{code}", code).Replace(text)
}

// spoken writes a code for speech: its digits one by one, with pauses.
func spoken(code string) string {
	return strings.Join(strings.Split(code, ""), ", ")
}

// Budget is the worst case an SMS text must fit in two segments with: the
// longest code and brand, and an app hash line.
type Budget struct {
	CodeLength  int // 10 at most
	BrandLength int // 30 at most
}

// Check returns an error for each SMS and WhatsApp text that would take
// more than two segments at the budget's worst case.
func (c *Catalog) Check(b Budget) error {
	var bad []string
	for _, id := range c.ids {
		r := c.Render(Params{Locale: id, Channel: SMS, Brand: strings.Repeat("B", b.BrandLength),
			Code: strings.Repeat("9", b.CodeLength), AppHash: "FA+9qCX9VSu"})
		if n, enc := Segments(r.Text); n > 2 {
			bad = append(bad, fmt.Sprintf("%s: %d %s segments", id, n, enc))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("SMS texts over two segments with a %d-digit code and a %d-character brand: %s",
			b.CodeLength, b.BrandLength, strings.Join(bad, "; "))
	}
	return nil
}
