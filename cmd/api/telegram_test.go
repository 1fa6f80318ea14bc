package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/otp"
)

const tgToken = "api-test-telegram-token-0123456789"

// telegramReport is a report of Telegram's shape about attempt 1 of id,
// for request rid.
func telegramReport(rid, id, status string) []byte {
	return []byte(`{"request_id":"` + rid + `","phone_number":"14155552671","request_cost":0.01,"delivery_status":{"status":"` +
		status + `","updated_at":` + strconv.FormatInt(time.Now().Unix(), 10) + `},"payload":"` + otp.AttemptRef("", id, 1) + `"}`)
}

func postTelegram(h http.Handler, body []byte, ts, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", api.TelegramCallbackPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if ts != "" {
		req.Header.Set("X-Request-Timestamp", ts)
	}
	if sig != "" {
		req.Header.Set("X-Request-Signature", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// Hostile and odd reports: only a report Telegram signed, recently, about
// an attempt we sent, changes anything; Telegram gets 200 for every signed
// report it need not send again.
func TestTelegramReports(t *testing.T) {
	f := newFixture(t)
	p := testPolicy
	p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelTelegram: true}
	hooks := testHooks
	hooks.TelegramToken = tgToken
	h := f.routes(t, app.Options{Policy: p}, hooks, nil)
	ctx := context.Background()
	w := serve(h, "POST", "/v1/verifications", obj{"to": "+14155552671", "channel": "telegram"})
	v := wantVerification(t, w, http.StatusAccepted)
	const rid = "req0123456789"
	if _, err := f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: rid}); err != nil {
		t.Fatal(err)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	sign := func(body []byte) string { return telegramfake.Sign(tgToken, now, body) }
	delivered := telegramReport(rid, v.ID, "delivered")
	big := append(bytes.Repeat([]byte(" "), 20<<10), delivered...)
	for _, c := range []struct {
		name     string
		body     []byte
		ts, sig  string
		want     int
		delivery otp.DeliveryStatus // the attempt's status after it
	}{
		{"forged", telegramReport(rid, v.ID, "expired"), now, telegramfake.Sign("other-token", now, telegramReport(rid, v.ID, "expired")), 403, otp.DeliverySending},
		{"unsigned", telegramReport(rid, v.ID, "expired"), now, "", 403, otp.DeliverySending},
		{"stale", telegramReport(rid, v.ID, "expired"), "1000", telegramfake.Sign(tgToken, "1000", telegramReport(rid, v.ID, "expired")), 403, otp.DeliverySending},
		{"oversized", big, now, sign(big), 413, otp.DeliverySending},
		{"bad JSON", []byte(`{"request_id":`), now, sign([]byte(`{"request_id":`)), 400, otp.DeliverySending},
		{"another request", telegramReport("reqOTHER", v.ID, "expired"), now, sign(telegramReport("reqOTHER", v.ID, "expired")), 200, otp.DeliverySending},
		{"unknown payload", []byte(strings.Replace(string(telegramReport(rid, v.ID, "expired")), v.ID, "VE00000000000000000000000000000000", 1)), now,
			sign([]byte(strings.Replace(string(telegramReport(rid, v.ID, "expired")), v.ID, "VE00000000000000000000000000000000", 1))), 200, otp.DeliverySending},
		{"delivered", delivered, now, sign(delivered), 200, otp.DeliveryDelivered},
		{"replayed", delivered, now, sign(delivered), 200, otp.DeliveryDelivered},
		{"expired after delivered", telegramReport(rid, v.ID, "expired"), now, sign(telegramReport(rid, v.ID, "expired")), 200, otp.DeliveryDelivered},
	} {
		if w := postTelegram(h, c.body, c.ts, c.sig); w.Code != c.want {
			t.Fatalf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		got, err := f.Svc.Get(ctx, v.ID)
		if err != nil || got.Attempts[0].Status != c.delivery {
			t.Fatalf("after %s: attempt %+v %v, want %s", c.name, got.Attempts, err, c.delivery)
		}
	}
	// Without the token, nothing is checked or recorded.
	hooks.TelegramToken = ""
	if w := postTelegram(f.routes(t, app.Options{Policy: p}, hooks, nil), delivered, now, sign(delivered)); w.Code != 403 {
		t.Fatalf("without TELEGRAM_GATEWAY_TOKEN: %d", w.Code)
	}
}
