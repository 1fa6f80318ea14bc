package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
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
	ch := s.Fake.Expect(to)
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
	t.Parallel() // it waits; the others run meanwhile
	s := channelStack(t)
	const to = "+14155552671"
	var id string
	send := func(channel client.Channel) func() {
		return func() {
			time.Sleep(1100 * time.Millisecond) // OTP_RESEND_COOLDOWN is 1s
			v, err := s.client.Start(t.Context(), client.StartRequest{To: to, Channel: channel})
			if err != nil || v.Channel != channel {
				t.Fatalf("%s: %v %+v", channel, err, v)
			}
			if id == "" {
				id = v.ID
			} else if v.ID != id {
				t.Fatalf("%s started another verification", channel)
			}
		}
	}
	sms := await(t, s, to, send(client.ChannelSMS))
	call := await(t, s, to, send(client.ChannelCall))
	wa := await(t, s, "whatsapp:"+to, send(client.ChannelWhatsApp))

	code := twiliofake.CodeIn(sms.Form.Get("Body"))
	says := twiliofake.SpokenIn(call.Form.Get("Twiml"))
	if call.Kind != twiliofake.KindCall || len(says) == 0 || twiliofake.CodeIn(says[0].Text) != code || says[0].Language != "en-US" {
		t.Fatalf("call %v, sms code %s", call.Form, code)
	}
	if wa.Form.Get("From") != "whatsapp:+14155238886" || twiliofake.CodeIn(wa.Form.Get("Body")) != code {
		t.Fatalf("whatsapp %v, sms code %s", wa.Form, code)
	}
	attempts := s.get(t, id).Attempts
	for i, want := range []client.Channel{client.ChannelSMS, client.ChannelCall, client.ChannelWhatsApp} {
		if i >= len(attempts) {
			t.Fatalf("attempts %+v", attempts)
		}
		if a := attempts[i]; a.Channel != want {
			t.Fatalf("attempt %d: %+v", i+1, a)
		}
	}
	if res, err := s.client.Check(t.Context(), client.CheckRequest{ID: id, Code: code}); err != nil || !res.Valid {
		t.Fatalf("check: %v %+v", err, res)
	}
}

// Without a locale, a French number gets French.
func TestFrenchNumberGetsFrench(t *testing.T) {
	s := startStack(t, nil)
	sms := await(t, s, "+33612345678", func() {
		if v, err := s.client.Start(t.Context(), client.StartRequest{To: "+33612345678"}); err != nil || v.Locale != "fr" {
			t.Fatalf("%v %+v", err, v)
		}
	})
	if body := sms.Form.Get("Body"); body != "Votre code de vérification Acme est : "+twiliofake.CodeIn(body) {
		t.Fatalf("body %q", body)
	}
}

func TestChannelRefusals(t *testing.T) {
	plain := startStack(t, nil) // CHANNELS defaults to sms
	if v, err := plain.client.Start(t.Context(), client.StartRequest{To: "+14155552671", Channel: client.ChannelCall}); !refused(err, 400, client.CodeChannelUnavailable) {
		t.Fatalf("disabled channel: %v %+v", err, v)
	}
	s := channelStack(t)
	if v, err := s.client.Start(t.Context(), client.StartRequest{To: "+447400123456", Channel: client.ChannelCall}); !refused(err, 403, client.CodeCountryNotAllowed) {
		t.Fatalf("call outside VOICE_ALLOWED_COUNTRIES: %v %+v", err, v)
	}
	if v, err := s.client.Start(t.Context(), client.StartRequest{To: "+447400123456", Channel: client.ChannelWhatsApp}); err != nil {
		t.Fatalf("whatsapp to the same number: %v %+v", err, v)
	}
	if n := len(s.Fake.Calls()); n != 0 {
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
		id = s.start(t, client.StartRequest{To: to, Channel: client.ChannelCall}).ID
	})
	cb := call.Form.Get("StatusCallback")
	if cb == "" {
		t.Fatal("the call asked for no status callback")
	}
	ctx := context.Background()
	forged := url.Values{"CallSid": {call.SID}, "CallStatus": {"completed"}, "AccountSid": {stacktest.AccountSID}}
	if code, err := twiliofake.PostSigned(ctx, "not-the-auth-token", cb, forged); err != nil || code != 403 {
		t.Fatalf("forged callback: %d %v", code, err)
	}
	for _, st := range []string{"initiated", "ringing", "no-answer"} {
		if code, err := s.Fake.CallStatusCallback(ctx, call, st); err != nil || code != 204 {
			t.Fatalf("%s: %d %v", st, code, err)
		}
	}
	d := s.waitDelivery(t, id, "undelivered")
	if d.RawStatus != "no-answer" || d.Channel != client.ChannelCall || d.MessageSID != call.SID {
		t.Fatalf("delivery %+v", d)
	}
}
