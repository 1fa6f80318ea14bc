package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

const telegramToken = "e2e-telegram-gateway-token-0123456789"

// telegramStack runs api and worker with telegram first and SMS behind
// it, reports to the api, and a fake Telegram Gateway.
func telegramStack(t *testing.T) (*stack, *telegramfake.Server) {
	t.Helper()
	tg := telegramfake.Start(telegramToken)
	t.Cleanup(tg.Close)
	s := startStack(t, map[string]string{"CHANNELS": "telegram,sms", "TELEGRAM_GATEWAY_TOKEN": telegramToken,
		"TELEGRAM_GATEWAY_URL": tg.URL, "PUBLIC_URL": "", "OTP_CHANNEL_TIMEOUT": "60s"})
	return s, tg
}

// telegramSent waits for the n-th message the fake Telegram accepted.
func telegramSent(t *testing.T, tg *telegramfake.Server, n int) telegramfake.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if sent := tg.Sent(); len(sent) >= n {
			return sent[n-1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Telegram got fewer than %d messages: %v", n, tg.Requests())
	return telegramfake.Request{}
}

// smsWithin waits for the first SMS to number to, and says how long it took.
func smsWithin(t *testing.T, fake *twiliofake.Server, to string, within time.Duration) twiliofake.Request {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m, ok := smsFor(fake, to); ok {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no SMS to %s within %v", to, within)
	return twiliofake.Request{}
}

func TestTelegramDelivered(t *testing.T) {
	s, tg := telegramStack(t)
	const to = "+14155552671"
	_, v := s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": to, "channel": "telegram"})
	msg := telegramSent(t, tg, 1)
	if msg.Params["phone_number"] != to || len(msg.Params["code"]) != 6 || msg.Params["callback_url"] != s.Base+"/v1/webhooks/telegram/status" {
		t.Fatalf("sendVerificationMessage %v", msg.Params)
	}
	if ttl, _ := strconv.Atoi(msg.Params["ttl"]); ttl < 30 || ttl > 600 {
		t.Fatalf("ttl %q, want the code's life left", msg.Params["ttl"])
	}
	if code, err := tg.Report(context.Background(), msg.RequestID, telegramfake.StatusDelivered); err != nil || code != 200 {
		t.Fatalf("report: %d %v", code, err)
	}
	d := s.waitDelivery(t, v["id"].(string), "delivered")
	if d.Channel != "telegram" {
		t.Fatalf("delivery %+v", d)
	}
	if _, res := s.as(t, apiKey, "POST", "/v1/verifications/check", obj{"to": to, "code": msg.Params["code"]}); res["valid"] != true {
		t.Fatalf("check with Telegram's code: %v", res)
	}
	// The approved code's message is taken back from Telegram.
	deadline := time.Now().Add(10 * time.Second)
	for len(tg.Revoked()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r := tg.Revoked(); len(r) != 1 || r[0] != msg.RequestID {
		t.Fatalf("revoked %v, want %s", r, msg.RequestID)
	}
}

// An expired Telegram message (not delivered in its ttl) sends the SMS at
// once, not after the channel timeout.
func TestTelegramExpiredFallsBackToSMS(t *testing.T) {
	s, tg := telegramStack(t)
	const to = "+14155552672"
	s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": to, "workflow": []obj{{"channel": "telegram"}, {"channel": "sms"}}})
	msg := telegramSent(t, tg, 1)
	start := time.Now()
	if code, err := tg.Report(context.Background(), msg.RequestID, telegramfake.StatusExpired); err != nil || code != 200 {
		t.Fatalf("report: %d %v", code, err)
	}
	sms := smsWithin(t, s.Fake, to, 10*time.Second)
	if twiliofake.CodeIn(sms.Form.Get("Body")) != msg.Params["code"] {
		t.Fatal("the SMS carries another code than the Telegram message")
	}
	t.Logf("expired report to SMS: %v", time.Since(start))
}

// A number without Telegram gets the SMS at once.
func TestNoTelegramAccountFallsBackToSMS(t *testing.T) {
	s, tg := telegramStack(t)
	const to = "+14155552673"
	tg.WithoutTelegram(to)
	start := time.Now()
	_, v := s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": to, "workflow": []obj{{"channel": "telegram"}, {"channel": "sms"}}})
	smsWithin(t, s.Fake, to, 10*time.Second)
	t.Logf("start to SMS: %v", time.Since(start))
	_, got := s.as(t, apiKey, "GET", "/v1/verifications/"+v["id"].(string), nil)
	attempts, _ := got["attempts"].([]any)
	if len(attempts) != 2 || attempts[0].(map[string]any)["reason"] != "telegram_error" {
		t.Fatalf("attempts %v", got["attempts"])
	}
}

// Reports that Telegram did not sign, or signed long ago, change nothing.
func TestForgedTelegramReportRefused(t *testing.T) {
	s, tg := telegramStack(t)
	const to = "+14155552674"
	_, v := s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": to, "channel": "telegram"})
	msg := telegramSent(t, tg, 1)
	body := []byte(`{"request_id":"` + msg.RequestID + `","phone_number":"` + to[1:] + `","request_cost":0.01,` +
		`"delivery_status":{"status":"expired","updated_at":` + strconv.FormatInt(time.Now().Unix(), 10) + `},"payload":"` + msg.Params["payload"] + `"}`)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for name, h := range map[string][2]string{
		"wrong token":  {now, telegramfake.Sign("not-our-token", now, body)},
		"no signature": {now, ""},
		"stale":        {old, telegramfake.Sign(telegramToken, old, body)},
	} {
		req, _ := http.NewRequest("POST", s.Base+"/v1/webhooks/telegram/status", bytes.NewReader(body))
		req.Header.Set("X-Request-Timestamp", h[0])
		if h[1] != "" {
			req.Header.Set("X-Request-Signature", h[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if _, got := s.as(t, apiKey, "GET", "/v1/verifications/"+v["id"].(string), nil); got["delivery"].(map[string]any)["status"] == "undelivered" {
		t.Fatalf("a forged report changed the delivery: %v", got["delivery"])
	}
}
