package messages_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/messages"
)

func TestTemplatesOverrideAndAdd(t *testing.T) {
	ts, err := messages.ParseTemplates([]byte(`{
		"fr": {"sms": "{brand} : votre code est {code}"},
		"EN": {"call": "Hello from {brand}. Your code is {code}. Again: {code}.", "voice": "Polly.Joanna"},
		"sw": {"sms": "Nambari yako ya {brand} ni {code}", "call": "Nambari yako ni {code}", "language": "sw-KE"},
		"ca": {"sms": "El teu codi de {brand} és: {code}"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := messages.New(messages.Options{Overrides: ts})
	if err != nil {
		t.Fatal(err)
	}
	render := func(locale, channel string) messages.Rendered {
		return c.Render(messages.Params{Locale: locale, Channel: channel, Brand: "Acme", Code: "4242"})
	}
	if got := render("fr", messages.SMS).Text; got != "Acme : votre code est 4242" {
		t.Errorf("fr sms %q", got)
	}
	if got := render("fr", messages.Call); got.Language != "fr-FR" || !strings.Contains(got.Text, "4, 2, 4, 2") {
		t.Errorf("fr call kept the built-in: %+v", got)
	}
	if got := render("en", messages.Call); got.Voice != "Polly.Joanna" || strings.Count(got.Text, "4, 2, 4, 2") != 2 {
		t.Errorf("en call %+v", got)
	}
	if loc, ok := c.Match("sw-TZ"); !ok || loc != "sw" {
		t.Errorf("an added locale is matched: %q %v", loc, ok)
	}
	if got := render("sw", messages.Call); got.Language != "sw-KE" || got.Voice != "Google.sw-KE-Standard-A" {
		t.Errorf("sw call %+v", got)
	}
	// An added locale without speech is called in English.
	if got := render("ca", messages.Call); got.Language != "en-US" || !strings.HasPrefix(got.Text, "Hello from Acme") {
		t.Errorf("ca call %+v", got)
	}
}

// Every problem of a templates file is reported at once, naming the locale.
func TestTemplatesRefused(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"not json", `nope`, []string{"not a JSON object"}},
		{"unknown field", `{"fr": {"sms": "{code}", "text": "x"}}`, []string{"fr", "unknown field"}},
		{"no code", `{"fr": {"sms": "Votre code"}}`, []string{"fr", "sms", "{code}"}},
		{"two codes in an sms", `{"fr": {"sms": "{code} {code}"}}`, []string{"exactly once"}},
		{"unknown placeholder", `{"fr": {"sms": "{name}: {code}"}}`, []string{"{name}"}},
		{"two brands", `{"fr": {"sms": "{brand}{brand}{code}"}}`, []string{"{brand} at most once"}},
		{"bad locale", `{"not a locale": {"sms": "{code}"}}`, []string{"BCP 47"}},
		{"empty", `{"fr": {}}`, []string{"no text"}},
		{"bad language", `{"fr": {"language": "!!"}}`, []string{"language"}},
		{"several at once", `{"fr": {"sms": "x"}, "de": {"call": "y"}}`, []string{"fr", "de"}},
		{"a call too long for TwiML", `{"fr": {"call": "{code} ` + strings.Repeat("x", 1000) + `"}}`, []string{"over 1,000"}},
	} {
		_, err := messages.ParseTemplates([]byte(tc.json))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: want an error with %q, got %v", tc.name, w, err)
			}
		}
	}
	for _, tc := range []struct{ name, json, want string }{
		{"new locale without sms", `{"sw": {"call": "{code}", "language": "sw-KE"}}`, "needs an sms text"},
		{"new call without language", `{"sw": {"sms": "{code}", "call": "{code}"}}`, "needs its language"},
	} {
		ts, err := messages.ParseTemplates([]byte(tc.json))
		if err == nil {
			_, err = messages.New(messages.Options{Overrides: ts})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// An operator's text is held to the same segment budget as the built-ins.
func TestTemplatesBudget(t *testing.T) {
	ts, err := messages.ParseTemplates([]byte(`{"en": {"sms": "` + strings.Repeat("word ", 60) + `{brand} {code}"}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := messages.New(messages.Options{Overrides: ts})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(messages.Budget{CodeLength: 6, BrandLength: 10}); err == nil || !strings.Contains(err.Error(), "en: 3 GSM-7 segments") {
		t.Fatalf("%v", err)
	}
}

func TestLoadTemplates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "templates.json")
	os.WriteFile(path, []byte(`{"de": {"sms": "{brand}-Code: {code}"}}`), 0o600)
	if ts, err := messages.LoadTemplates(path); err != nil || len(ts) != 1 || ts[0].Locale != "de" {
		t.Fatalf("%+v %v", ts, err)
	}
	if _, err := messages.LoadTemplates(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("a missing file must be an error")
	}
}
