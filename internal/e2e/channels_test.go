package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/twiliofake"
)

// channelStack runs api and worker with every channel enabled, calls
// allowed to US numbers only, and status callbacks on.
func channelStack(t *testing.T) *stack {
	return startStack(t, map[string]string{
		"CHANNELS": "sms,whatsapp,call", "TWILIO_WHATSAPP_FROM": "+14155238886",
		"VOICE_ALLOWED_COUNTRIES": "US", "CALL_BUDGET_PER_MINUTE": "10", "PUBLIC_URL": "",
	})
}

// await returns the next request the fake accepts for to, sent by send.
func await(t *testing.T, s *stack, to string, send func()) twiliofake.Request {
	t.Helper()
	ch := s.fake.Expect(to)
	send()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("nothing reached Twilio for %s", to)
		return twiliofake.Request{}
	}
}

// A verification started by SMS and resent by call and by WhatsApp carries
// one code on all three, each attempt on its channel.
func TestOneCodeOnThreeChannels(t *testing.T) {
	s := channelStack(t)
	const to = "+14155552671"
	var id string
	send := func(channel string) func() {
		return func() {
			time.Sleep(1100 * time.Millisecond) // OTP_RESEND_COOLDOWN is 1s
			code, v := s.call(t, "POST", "/v1/verifications", map[string]string{"to": to, "channel": channel})
			if code != 202 || v["channel"] != channel {
				t.Fatalf("%s: %d %v", channel, code, v)
			}
			if id == "" {
				id = v["id"].(string)
			} else if v["id"] != id {
				t.Fatalf("%s started another verification", channel)
			}
		}
	}
	sms := await(t, s, to, send("sms"))
	call := await(t, s, to, send("call"))
	wa := await(t, s, "whatsapp:"+to, send("whatsapp"))

	code := twiliofake.CodeIn(sms.Form.Get("Body"))
	says := twiliofake.SpokenIn(call.Form.Get("Twiml"))
	if call.Kind != twiliofake.KindCall || len(says) == 0 || twiliofake.CodeIn(says[0].Text) != code || says[0].Language != "en-US" {
		t.Fatalf("call %v, sms code %s", call.Form, code)
	}
	if wa.Form.Get("From") != "whatsapp:+14155238886" || twiliofake.CodeIn(wa.Form.Get("Body")) != code {
		t.Fatalf("whatsapp %v, sms code %s", wa.Form, code)
	}
	_, v := s.call(t, "GET", "/v1/verifications/"+id, nil)
	attempts := v["attempts"].([]any)
	for i, want := range []string{"sms", "call", "whatsapp"} {
		if a := attempts[i].(map[string]any); a["channel"] != want {
			t.Fatalf("attempt %d: %v", i+1, a)
		}
	}
	if status, res := s.call(t, "POST", "/v1/verifications/check", map[string]string{"id": id, "code": code}); status != 200 || res["valid"] != true {
		t.Fatalf("check: %d %v", status, res)
	}
}

// Without a locale, a French number gets French.
func TestFrenchNumberGetsFrench(t *testing.T) {
	s := startStack(t, nil)
	sms := await(t, s, "+33612345678", func() {
		if code, v := s.call(t, "POST", "/v1/verifications", map[string]string{"to": "+33612345678"}); code != 202 || v["locale"] != "fr" {
			t.Fatalf("%d %v", code, v)
		}
	})
	if body := sms.Form.Get("Body"); body != "Votre code de vérification Acme est : "+twiliofake.CodeIn(body) {
		t.Fatalf("body %q", body)
	}
}

func TestChannelRefusals(t *testing.T) {
	plain := startStack(t, nil) // CHANNELS defaults to sms
	if code, body := plain.call(t, "POST", "/v1/verifications", map[string]string{"to": "+14155552671", "channel": "call"}); code != 400 || body["code"] != "channel_unavailable" {
		t.Fatalf("disabled channel: %d %v", code, body)
	}
	s := channelStack(t)
	if code, body := s.call(t, "POST", "/v1/verifications", map[string]string{"to": "+447400123456", "channel": "call"}); code != 403 || body["code"] != "country_not_allowed" {
		t.Fatalf("call outside VOICE_ALLOWED_COUNTRIES: %d %v", code, body)
	}
	if code, body := s.call(t, "POST", "/v1/verifications", map[string]string{"to": "+447400123456", "channel": "whatsapp"}); code != 202 {
		t.Fatalf("whatsapp to the same number: %d %v", code, body)
	}
	if n := len(s.fake.Calls()); n != 0 {
		t.Fatalf("%d calls placed", n)
	}
}

// A call's progress events come back signed; a forged one is refused and
// changes nothing.
func TestCallCallbacks(t *testing.T) {
	s := channelStack(t)
	const to = "+14155552671"
	var id string
	call := await(t, s, to, func() {
		_, v := s.call(t, "POST", "/v1/verifications", map[string]string{"to": to, "channel": "call"})
		id, _ = v["id"].(string)
	})
	cb := call.Form.Get("StatusCallback")
	if cb == "" {
		t.Fatal("the call asked for no status callback")
	}
	ctx := context.Background()
	forged := url.Values{"CallSid": {call.SID}, "CallStatus": {"completed"}, "AccountSid": {sid}}
	if code, err := twiliofake.PostSigned(ctx, "not-the-auth-token", cb, forged); err != nil || code != 403 {
		t.Fatalf("forged callback: %d %v", code, err)
	}
	for _, st := range []string{"initiated", "ringing", "no-answer"} {
		if code, err := s.fake.CallStatusCallback(ctx, call, st); err != nil || code != 204 {
			t.Fatalf("%s: %d %v", st, code, err)
		}
	}
	d := s.waitDelivery(t, id, "undelivered")
	if d["rawStatus"] != "no-answer" || d["channel"] != "call" || d["messageSid"] != call.SID {
		t.Fatalf("delivery %v", d)
	}
}
