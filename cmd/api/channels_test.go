package main

import (
	"net/http"
	"testing"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// channeled rebuilds the fixture's router with every channel enabled, the
// built-in locales, and calls narrowed to US numbers.
func channeled(t *testing.T, f *fixture, set func(*otp.Policy)) {
	t.Helper()
	p := testPolicy
	p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelWhatsApp: true, otp.ChannelCall: true}
	p.VoiceAllowedCountries = map[string]bool{"US": true}
	p.Brands = map[string]bool{"Acme": true, "Globex": true}
	if set != nil {
		set(&p)
	}
	f.Rebuild(t, app.Options{Policy: p, Secret: []byte(testSecret), CodeLength: codeLength,
		Limits: redisstore.LimitConfig{CallBudgetPerMinute: 2}, Log: discardLogger()})
	f.h = newHandler(f.deps(discardLogger(), f.Svc), nil)
}

// One verification, one code, three channels: each resend is an attempt on
// the channel it asked for.
func TestResendOnAnotherChannel(t *testing.T) {
	f := newFixture(t)
	channeled(t, f, func(p *otp.Policy) { p.MaxSends = 5 })
	v := wantVerification(t, f.do("POST", "/v1/verifications", obj{"to": phone}), http.StatusAccepted)
	code := f.liveCode(t, v.ID)
	for i, ch := range []string{"call", "whatsapp", "sms"} {
		f.Clock.Advance(testPolicy.Cooldown)
		got := wantVerification(t, f.do("POST", "/v1/verifications", obj{"to": phone, "channel": ch}), http.StatusAccepted)
		if got.ID != v.ID || got.Channel != ch || got.Attempts[i+1].Channel != ch || got.Delivery.Channel != ch || got.SendAttempts != i+2 {
			t.Fatalf("resend on %s: %+v", ch, got)
		}
		if c := f.liveCode(t, v.ID); c != code {
			t.Fatalf("the code changed on %s", ch)
		}
	}
	got := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), http.StatusOK)
	for i, want := range []string{"sms", "call", "whatsapp", "sms"} {
		if got.Attempts[i].Channel != want {
			t.Fatalf("attempt %d on %s, want %s", i+1, got.Attempts[i].Channel, want)
		}
	}
	// The cooldown holds across channels: a call right after an SMS waits.
	pr := wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": phone, "channel": "call"}), http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "to" {
		t.Fatalf("%+v", pr)
	}
}

func TestChannelRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy func(*otp.Policy)
		body   obj
		status int
		code   string
		check  func(*testing.T, otp.Verification)
	}{
		{name: "whatsapp", body: obj{"to": phone, "channel": "whatsapp"}, status: 202},
		{name: "call", body: obj{"to": phone, "channel": "call"}, status: 202},
		{name: "disabled channel", policy: func(p *otp.Policy) { delete(p.Channels, "call") },
			body: obj{"to": phone, "channel": "call"}, status: 400, code: "channel_unavailable"},
		{name: "unknown channel", body: obj{"to": phone, "channel": "fax"}, status: 400, code: "channel_unavailable"},
		{name: "call outside VOICE_ALLOWED_COUNTRIES", body: obj{"to": "+447400123456", "channel": "call"}, status: 403, code: "country_not_allowed"},
		{name: "sms to the same country", body: obj{"to": "+447400123456"}, status: 202},
		{name: "locale from a French number", body: obj{"to": "+33612345678"}, status: 202,
			check: func(t *testing.T, v otp.Verification) { want(t, v.Locale, "fr") }},
		{name: "locale from a Brazilian number", body: obj{"to": "+5511987654321"}, status: 202,
			check: func(t *testing.T, v otp.Verification) { want(t, v.Locale, "pt-BR") }},
		{name: "locale asked for wins", body: obj{"to": "+33612345678", "locale": "de-CH"}, status: 202,
			check: func(t *testing.T, v otp.Verification) { want(t, v.Locale, "de") }},
		{name: "pt is European", body: obj{"to": phone, "locale": "pt"}, status: 202,
			check: func(t *testing.T, v otp.Verification) { want(t, v.Locale, "pt") }},
		{name: "unsupported locale", body: obj{"to": phone, "locale": "sw"}, status: 400, code: "invalid_request"},
		{name: "brand from OTP_BRANDS", body: obj{"to": phone, "brand": "Globex"}, status: 202},
		{name: "brand not listed", body: obj{"to": phone, "brand": "Globex Bank: call +1 900 555 0199"}, status: 400, code: "invalid_request"},
		{name: "app hash", body: obj{"to": phone, "appHash": "FA+9qCX9VSu"}, status: 202},
		{name: "app hash on a call", body: obj{"to": phone, "channel": "call", "appHash": "FA+9qCX9VSu"}, status: 400, code: "invalid_request"},
		{name: "bad app hash", body: obj{"to": phone, "appHash": "FA+9qCX9VS="}, status: 400, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			channeled(t, f, tc.policy)
			w := f.do("POST", "/v1/verifications", tc.body)
			if tc.status != 202 {
				wantProblem(t, w, tc.status, tc.code)
				return
			}
			v := wantVerification(t, w, 202)
			if ch, _ := tc.body["channel"].(string); ch != "" && v.Channel != ch {
				t.Fatalf("channel %s", v.Channel)
			}
			if tc.check != nil {
				tc.check(t, v)
			}
		})
	}
}

func want(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Calls have their own budget on top of the shared limits.
func TestCallBudget(t *testing.T) {
	f := newFixture(t)
	channeled(t, f, nil)
	for i := 0; i < 2; i++ {
		wantStatus(t, f.do("POST", "/v1/verifications", obj{"to": "+1415555050" + string(rune('0'+i)), "channel": "call"}), 202)
	}
	pr := wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": "+14155550509", "channel": "call"}), http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "call_budget" {
		t.Fatalf("%+v", pr)
	}
	wantStatus(t, f.do("POST", "/v1/verifications", obj{"to": "+14155550509"}), 202)
}

// A resend that names no locale keeps the verification's; one that names
// a locale changes it.
func TestResendKeepsTheLocale(t *testing.T) {
	f := newFixture(t)
	channeled(t, f, func(p *otp.Policy) { p.MaxSends = 5 })
	steps := []struct {
		body obj
		want string
	}{
		{obj{"to": phone, "locale": "fr"}, "fr"},
		{obj{"to": phone}, "fr"},
		{obj{"to": phone, "channel": "call"}, "fr"},
		{obj{"to": phone, "locale": "de"}, "de"},
	}
	for i, s := range steps {
		f.Clock.Advance(testPolicy.Cooldown)
		v := wantVerification(t, f.do("POST", "/v1/verifications", s.body), http.StatusAccepted)
		if v.Locale != s.want {
			t.Fatalf("send %d: locale %q, want %q", i+1, v.Locale, s.want)
		}
	}
}
