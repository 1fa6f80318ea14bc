package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
)

const (
	sid1 = "SM0123456789abcdef0123456789abcdef"
	sid2 = "SMfedcba9876543210fedcba9876543210"
)

// callback posts a Twilio status callback for attempt 1 of v, signed with
// token over the URL Twilio would have called.
func (f *fixture) callback(v otp.Verification, attempt string, form url.Values, sign func(fullURL string) string) *httptest.ResponseRecorder {
	target := api.StatusCallbackPath + "?" + url.Values{"v": {v.ID}, "a": {attempt}}.Encode()
	req := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig := sign(testHooks.PublicURL + target); sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func signedBy(token string, form url.Values) func(string) string {
	return func(u string) string { return twiliofake.Sign(token, u, form) }
}

func TestTwilioStatusCallback(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	ctx := context.Background()
	// The worker recorded Twilio's acceptance of attempt 1.
	f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: sid1})
	status := func() otp.Delivery {
		got, err := f.Store.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Delivery
	}
	report := func(st string, ec string) url.Values {
		form := url.Values{"MessageSid": {sid1}, "MessageStatus": {st}, "AccountSid": {"AC1"}}
		if ec != "" {
			form.Set("ErrorCode", ec)
		}
		return form
	}

	// Forged, unsigned or misdirected callbacks change nothing.
	bad := report("failed", "30008")
	for name, sign := range map[string]func(string) string{
		"no signature":     func(string) string { return "" },
		"wrong token":      signedBy("someone-elses-token", bad),
		"signed other url": func(string) string { return twiliofake.Sign(testHooks.AuthToken, "https://evil.example/x", bad) },
		"signed other form": func(u string) string {
			return twiliofake.Sign(testHooks.AuthToken, u, report("delivered", ""))
		},
	} {
		w := f.callback(v, "1", bad, sign)
		wantProblem(t, w, http.StatusForbidden, "invalid_signature")
		if d := status(); d.Status != otp.DeliverySending {
			t.Fatalf("%s changed the delivery: %+v", name, d)
		}
	}

	// Signed callbacks, out of order: the status only moves forward.
	for _, tc := range []struct{ status, want string }{
		{"sent", "sent"},
		{"delivered", "delivered"},
		{"sent", "delivered"},
		{"undelivered", "delivered"},
	} {
		form := report(tc.status, "")
		if w := f.callback(v, "1", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
			t.Fatalf("%s: %d %s", tc.status, w.Code, w.Body)
		}
		if d := status(); string(d.Status) != tc.want {
			t.Fatalf("after %s: %s, want %s", tc.status, d.Status, tc.want)
		}
	}

	// A callback about another message of the same attempt is ignored.
	other := url.Values{"MessageSid": {sid2}, "MessageStatus": {"failed"}}
	if w := f.callback(v, "1", other, signedBy(testHooks.AuthToken, other)); w.Code != http.StatusNoContent {
		t.Fatalf("other sid: %d", w.Code)
	}
	if d := status(); d.Status != otp.DeliveryDelivered || d.MessageSID != sid1 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestTwilioStatusCallbackErrors(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	form := url.Values{"MessageSid": {sid1}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}

	// The error code of a failed delivery is kept.
	if w := f.callback(v, "1", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got, _ := f.Store.Get(context.Background(), v.ID)
	if got.Delivery.Status != otp.DeliveryUndelivered || got.Delivery.ErrorCode != 30003 || got.Delivery.MessageSID != sid1 {
		t.Fatalf("delivery %+v", got.Delivery)
	}

	// A signed URL without a usable attempt is a client error.
	w := f.callback(v, "zero", form, signedBy(testHooks.AuthToken, form))
	wantProblem(t, w, http.StatusBadRequest, "invalid_request")

	// An attempt that does not exist is accepted and ignored.
	if w := f.callback(v, "9", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
		t.Fatalf("unknown attempt: %d", w.Code)
	}

	// Without PUBLIC_URL and an auth token no signature can be checked.
	d := f.deps(discardLogger(), f.Svc)
	d.hooks = webhookConfig{}
	h := newHandler(d, nil)
	req := httptest.NewRequest("POST", api.StatusCallbackPath, strings.NewReader(form.Encode()))
	req.Header.Set("X-Twilio-Signature", "x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantProblem(t, rec, http.StatusForbidden, "forbidden")

	// Oversized bodies are refused before any parsing.
	big := url.Values{"MessageSid": {strings.Repeat("x", maxBody)}}
	wantProblem(t, f.callback(v, "1", big, signedBy(testHooks.AuthToken, big)), http.StatusRequestEntityTooLarge, "request_too_large")
}

// A call's progress events come to the same route, signed the same way:
// each moves the attempt forward and keeps Twilio's own word for it.
func TestTwilioCallCallbacks(t *testing.T) {
	const callSID = "CA0123456789abcdef0123456789abcdef"
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		events   []string
		want     otp.DeliveryStatus
		wantRaw  string
		wantFail bool
	}{
		{"answered and completed", []string{"initiated", "ringing", "in-progress", "completed"}, otp.DeliveryDelivered, "completed", false},
		{"nobody answered", []string{"initiated", "ringing", "no-answer"}, otp.DeliveryUndelivered, "no-answer", false},
		{"busy", []string{"initiated", "busy"}, otp.DeliveryUndelivered, "busy", false},
		{"failed", []string{"failed"}, otp.DeliveryFailed, "failed", false},
		{"canceled", []string{"initiated", "canceled"}, otp.DeliveryFailed, "canceled", false},
		{"late ringing after completed", []string{"in-progress", "completed", "ringing"}, otp.DeliveryDelivered, "completed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			channeled(t, f, nil)
			v := wantVerification(t, f.do("POST", "/v1/verifications", obj{"to": phone, "channel": "call"}), 202)
			f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: callSID})
			for _, ev := range tc.events {
				form := url.Values{"CallSid": {callSID}, "CallStatus": {ev}, "AccountSid": {"AC1"}}
				if w := f.callback(v, "1", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
					t.Fatalf("%s: %d %s", ev, w.Code, w.Body)
				}
			}
			got, _ := f.Store.Get(ctx, v.ID)
			if got.Delivery.Status != tc.want || got.Delivery.RawStatus != tc.wantRaw || got.Attempts[0].RawStatus != tc.wantRaw {
				t.Fatalf("delivery %+v", got.Delivery)
			}
		})
	}
	t.Run("bad signature", func(t *testing.T) {
		f := newFixture(t)
		channeled(t, f, nil)
		v := wantVerification(t, f.do("POST", "/v1/verifications", obj{"to": phone, "channel": "call"}), 202)
		f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: callSID})
		form := url.Values{"CallSid": {callSID}, "CallStatus": {"no-answer"}}
		wantProblem(t, f.callback(v, "1", form, signedBy("not-the-token", form)), http.StatusForbidden, "invalid_signature")
		if got, _ := f.Store.Get(ctx, v.ID); got.Delivery.Status != otp.DeliverySending {
			t.Fatalf("a forged call event changed the attempt: %+v", got.Delivery)
		}
	})
	t.Run("a call's event about an SMS attempt is ignored", func(t *testing.T) {
		f := newFixture(t)
		v := f.start(t, phone) // an SMS attempt, with no sid yet
		form := url.Values{"CallSid": {callSID}, "CallStatus": {"completed"}}
		if w := f.callback(v, "1", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
			t.Fatalf("%d", w.Code)
		}
		if got, _ := f.Store.Get(ctx, v.ID); got.Delivery.Status != otp.DeliveryQueued || got.Delivery.MessageSID != "" {
			t.Fatalf("%+v", got.Delivery)
		}
	})
	t.Run("odd words are not kept", func(t *testing.T) {
		f := newFixture(t)
		channeled(t, f, nil)
		v := wantVerification(t, f.do("POST", "/v1/verifications", obj{"to": phone, "channel": "call"}), 202)
		f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: callSID})
		form := url.Values{"CallSid": {callSID}, "CallStatus": {"busy|x"}}
		if w := f.callback(v, "1", form, signedBy(testHooks.AuthToken, form)); w.Code != http.StatusNoContent {
			t.Fatalf("%d", w.Code)
		}
		if got, _ := f.Store.Get(ctx, v.ID); got.Delivery.RawStatus != "" {
			t.Fatalf("%+v", got.Delivery)
		}
	})
}
