package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzWebhookBody posts arbitrary bytes as the form body of a Twilio status
// callback about a fresh verification. A body that parses as a form is
// signed correctly, over its first values as Twilio and ValidSignature do;
// one that does not is sent with some signature. The callback's answer is
// never a 5xx, and neither is reading the verification afterwards: no
// callback may leave state the service cannot read back.
func FuzzWebhookBody(f *testing.F) {
	for _, form := range []url.Values{
		{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"sent"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"}},
		{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"}, "SmsStatus": {"delivered"},
			"AccountSid": {"AC0123456789abcdef0123456789abcdef"}, "From": {"+15005550006"}, "To": {phone}, "ApiVersion": {"2010-04-01"}},
		{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}},
		{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "ErrorCode": {"30008"}, "ErrorMessage": {"Unknown error"}},
		{"MessageSid": {"SM1", "SM2"}, "MessageStatus": {"read"}},
	} {
		f.Add([]byte(form.Encode()))
	}
	f.Add([]byte(""))
	f.Add([]byte("MessageSid=%zz&MessageStatus=sent"))
	f.Add([]byte("MessageSid=SM1;MessageStatus=sent"))

	fx := newFixtureWith(f, testPolicy, discardLogger())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		// Each input meets the same state: one fresh verification whose
		// first attempt has no MessageSid yet.
		if err := fx.RDB.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		v := fx.start(t, phone)
		target := callbackTarget(v.ID, "1")
		sig := "bm90IGEgc2lnbmF0dXJl"
		if form, err := url.ParseQuery(string(body)); err == nil {
			sig = signCallback(target, form)
		}
		req := httptest.NewRequest("POST", target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		w := serveWatched(t, fx.h, req, "signed callback")
		if p := hostileAnswerError(w, false); p != "" {
			t.Fatalf("POST %s body %q: %s", target, body, p)
		}
		g := fx.getHostile(t, v.ID)
		if g.Code >= http.StatusInternalServerError {
			t.Fatalf("GET /v1/verifications/%s after the callback with body %q (status %d): %d %s",
				v.ID, body, w.Code, g.Code, strings.TrimSpace(g.Body.String()))
		}
	})
}
