package messages_test

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/messages"
)

func builtin(t *testing.T) *messages.Catalog {
	t.Helper()
	c, err := messages.New(messages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The locales the issue asks for, and at least 30 of them.
func TestBuiltinLocales(t *testing.T) {
	got := map[string]bool{}
	for _, l := range builtin(t).Locales() {
		got[l] = true
	}
	for _, want := range strings.Fields("en es pt-BR pt fr de it nl pl ru uk tr ar he hi bn id ms th vi ja ko zh-CN zh-HK sv da nb fi cs ro hu el") {
		if !got[want] {
			t.Errorf("no built-in locale %s", want)
		}
	}
	if len(got) < 30 {
		t.Fatalf("%d locales", len(got))
	}
}

// Every built-in text renders on every channel with the code in it, and
// every SMS fits in two segments at the worst case: a 10-digit code, a
// 30-character brand and an app hash line.
func TestBuiltinTextsFitTwoSegments(t *testing.T) {
	c := builtin(t)
	if err := c.Check(messages.Budget{CodeLength: 10, BrandLength: 30}); err != nil {
		t.Fatal(err)
	}
	brand := strings.Repeat("B", 30)
	for _, l := range c.Locales() {
		for _, ch := range []string{messages.SMS, messages.WhatsApp, messages.Call} {
			r := c.Render(messages.Params{Locale: l, Channel: ch, Brand: brand, Code: "0123456789", AppHash: "FA+9qCX9VSu"})
			code := "0123456789"
			if ch == messages.Call {
				code = "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
				// Every built-in names a voice of its own language.
				if r.Language == "" || !strings.HasPrefix(r.Voice, "Google."+r.Language+"-Standard-") {
					t.Errorf("%s call: language %q voice %q", l, r.Language, r.Voice)
				}
			}
			if !strings.Contains(r.Text, code) || !strings.Contains(r.Text, brand) || strings.Contains(r.Text, "{") {
				t.Errorf("%s %s: %q", l, ch, r.Text)
			}
			if ch == messages.SMS {
				n, enc := messages.Segments(r.Text)
				t.Logf("%-5s %d %s segment(s), %d characters", l, n, enc, len([]rune(r.Text)))
			}
		}
	}
}

func TestSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name string
		text string
		n    int
		enc  messages.Encoding
	}{
		{"empty", "", 1, messages.GSM7},
		{"160 GSM", a(160), 1, messages.GSM7},
		{"161 GSM", a(161), 2, messages.GSM7},
		{"306 GSM", a(306), 2, messages.GSM7},
		{"307 GSM", a(307), 3, messages.GSM7},
		{"GSM accents", "é è ù ì ò Ç Ø å Ä Ö Ñ Ü ä ö ñ ü à ß É", 1, messages.GSM7},
		{"80 euros (160 septets)", strings.Repeat("€", 80), 1, messages.GSM7},
		{"81 euros", strings.Repeat("€", 81), 2, messages.GSM7},
		{"an escape pair is not split", a(152) + "€" + a(152), 3, messages.GSM7},
		{"an escape pair that fits", a(151) + "€" + a(151), 2, messages.GSM7},
		{"one ó makes UCS-2", "código", 1, messages.UCS2},
		{"70 UCS-2", strings.Repeat("я", 70), 1, messages.UCS2},
		{"71 UCS-2", strings.Repeat("я", 71), 2, messages.UCS2},
		{"134 UCS-2", strings.Repeat("я", 134), 2, messages.UCS2},
		{"135 UCS-2", strings.Repeat("я", 135), 3, messages.UCS2},
		{"35 emoji (70 units)", strings.Repeat("😀", 35), 1, messages.UCS2},
		{"67 units with a pair at the edge", strings.Repeat("я", 66) + "😀" + strings.Repeat("я", 66), 3, messages.UCS2},
	} {
		n, enc := messages.Segments(tc.text)
		if n != tc.n || enc != tc.enc {
			t.Errorf("%s: %d %s, want %d %s", tc.name, n, enc, tc.n, tc.enc)
		}
	}
}

func TestMatch(t *testing.T) {
	c := builtin(t)
	for in, want := range map[string]string{
		"fr": "fr", "fr-CA": "fr", "FR-fr": "fr", "pt": "pt", "pt-PT": "pt", "pt-BR": "pt-BR", "pt-AO": "pt",
		"zh": "zh-CN", "zh-CN": "zh-CN", "zh-Hans-SG": "zh-CN", "zh-TW": "zh-TW", "zh-Hant": "zh-TW", "zh-HK": "zh-HK", "zh-Hant-HK": "zh-HK", "zh-MO": "zh-HK", "yue": "zh-HK",
		"no": "nb", "nn": "nb", "nb-NO": "nb", "iw": "he", "in": "id", "en_US": "en", "en-GB": "en", "es-419": "es",
		"de-CH": "de", "ar-EG": "ar", "ja-JP": "ja",
		// Languages the catalog does not speak are refused, not English.
		"tlh": "", "sw": "", "sr": "", "ca": "", "": "", "xx": "", "not a tag": "", "en-": "",
	} {
		got, ok := c.Match(in)
		if got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestForRegion(t *testing.T) {
	c := builtin(t)
	for in, want := range map[string]string{
		"FR": "fr", "BR": "pt-BR", "PT": "pt", "AO": "pt", "MZ": "pt", "US": "en", "GB": "en", "KE": "en", "CH": "de",
		"TW": "zh-TW", "HK": "zh-HK", "MO": "zh-HK", "SN": "fr", "UA": "uk", "CN": "zh-CN", "MX": "es", "IL": "he", "IN": "hi", "JP": "ja", "GR": "el", "XX": "en", "": "en",
	} {
		if got := c.ForRegion(in); got != want {
			t.Errorf("ForRegion(%q) = %q, want %q", in, got, want)
		}
	}
}

// The exact formats docs/api.md ("Languages") shows.
func TestRenderFormats(t *testing.T) {
	c, err := messages.New(messages.Options{WebOTPDomain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	p := messages.Params{Locale: "en", Channel: messages.SMS, Brand: "Acme", Code: "123456", AppHash: "FA+9qCX9VSu"}
	if got, want := c.Render(p).Text, "Your Acme verification code is: 123456\n\nFA+9qCX9VSu\n\n@example.com #123456"; got != want {
		t.Errorf("sms:\n%q\nwant\n%q", got, want)
	}
	p.AppHash = ""
	if got, want := c.Render(p).Text, "Your Acme verification code is: 123456\n\n@example.com #123456"; got != want {
		t.Errorf("sms without app hash: %q", got)
	}
	p.Channel = messages.WhatsApp
	if got, want := c.Render(p).Text, "Your Acme verification code is: 123456"; got != want {
		t.Errorf("whatsapp: %q", got)
	}
	p.Channel, p.Locale = messages.Call, "fr"
	r := c.Render(p)
	if r.Text != "Votre code de vérification Acme est : 1, 2, 3, 4, 5, 6." || r.Language != "fr-FR" || r.Voice != "Google.fr-FR-Standard-F" {
		t.Errorf("call: %+v", r)
	}
	if r := c.Render(messages.Params{Locale: "xx", Channel: messages.SMS, Brand: "Acme", Code: "1"}); !strings.HasPrefix(r.Text, "Your Acme") {
		t.Errorf("unknown locale: %q", r.Text)
	}
}
