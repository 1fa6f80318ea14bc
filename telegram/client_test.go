package telegram_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/telegram"
)

const token = "12345:AAE-gateway-token"

func newClient(t *testing.T, fake *telegramfake.Server, mod func(*telegram.Config)) *telegram.Client {
	t.Helper()
	cfg := telegram.Config{Token: token, APIURL: fake.URL, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := telegram.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var msg = otp.Message{Channel: telegram.Channel, To: "+14155552671", Code: "123456", ValidFor: 9*time.Minute + 30*time.Second}

func TestSendFields(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	m := msg
	m.StatusCallback = "http://127.0.0.1:8080/v1/webhooks/telegram"
	m.Ref = "VE0123456789abcdef0123456789abcdef.1"
	r, err := newClient(t, fake, nil).Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent()
	if len(sent) != 1 || r.MessageSID != sent[0].RequestID || r.Status != otp.DeliverySent || r.Handled != "accepted by Telegram" {
		t.Fatalf("receipt %+v, sent %+v", r, sent)
	}
	want := map[string]string{"phone_number": m.To, "code": "123456", "ttl": "570",
		"callback_url": m.StatusCallback, "payload": m.Ref}
	if !maps.Equal(sent[0].Params, want) {
		t.Fatalf("params %v, want %v", sent[0].Params, want)
	}
}

func TestSenderUsername(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.OwnSenders("OtpdCodes")
	if _, err := newClient(t, fake, func(c *telegram.Config) { c.SenderUsername = "@OtpdCodes" }).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent()[0].Params["sender_username"]; got != "OtpdCodes" {
		t.Fatalf("sender_username %q", got)
	}
}

// A receipt's status is the answer's delivery status when it has a known
// one, and "sending" otherwise: the page does not promise one at once.
func TestReceiptStatus(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.Script(telegramfake.Response{DeliveryStatus: "read"}, telegramfake.Response{DeliveryStatus: "queued"},
		telegramfake.Response{Status: 200, RawBody: `{"ok":true,"result":{"request_id":"r1","phone_number":"+14155552671","request_cost":0.01}}`})
	c := newClient(t, fake, nil)
	for _, want := range []otp.DeliveryStatus{otp.DeliveryDelivered, otp.DeliverySending, otp.DeliverySending} {
		if r, err := c.Send(context.Background(), msg); err != nil || r.Status != want || r.MessageSID == "" {
			t.Fatalf("receipt %+v, %v; want status %s", r, err, want)
		}
	}
}

// ttl is whole seconds in 30..3600: a code with less than 30 s left is not
// sent at all (without a ttl Telegram would keep it for good), and one
// with more than an hour is asked to expire after an hour.
func TestTTL(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	c := newClient(t, fake, nil)
	for _, tc := range []struct {
		left time.Duration
		want string // ttl sent; "" none sent
	}{
		{-time.Second, ""}, {0, ""}, {29999 * time.Millisecond, ""},
		{30 * time.Second, "30"}, {30999 * time.Millisecond, "30"}, {59 * time.Minute, "3540"},
		{time.Hour, "3600"}, {10 * time.Hour, "3600"},
	} {
		m := msg
		m.ValidFor = tc.left
		before := len(fake.Requests())
		_, err := c.Send(context.Background(), m)
		reqs := fake.Requests()
		var se *otp.SendError
		switch {
		case tc.want == "" && (!errors.As(err, &se) || !se.Permanent || se.Account || len(reqs) != before):
			t.Errorf("%v left: %v, %d requests", tc.left, err, len(reqs)-before)
		case tc.want != "" && (err != nil || reqs[len(reqs)-1].Params["ttl"] != tc.want):
			t.Errorf("%v left: %v, ttl %q", tc.left, err, reqs[len(reqs)-1].Params["ttl"])
		}
	}
}

// What Telegram would refuse is refused without a call (a refused call is
// free, but a wrong one is not always refused), and the error names no code.
func TestRefusedBeforeSending(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	c := newClient(t, fake, nil)
	for name, mod := range map[string]func(*otp.Message){
		"code of 3":          func(m *otp.Message) { m.Code = "987" },
		"code of 9":          func(m *otp.Message) { m.Code = "987654321" },
		"code with a letter": func(m *otp.Message) { m.Code = "98765a" },
		"no code":            func(m *otp.Message) { m.Code = "" },
		"callback of 257":    func(m *otp.Message) { m.StatusCallback = "https://otp.example/?t=" + strings.Repeat("s", 234) },
		"ref of 129":         func(m *otp.Message) { m.Ref = strings.Repeat("r", 129) },
		"an SMS":             func(m *otp.Message) { m.Channel = otp.ChannelSMS },
	} {
		m := msg
		mod(&m)
		_, err := c.Send(context.Background(), m)
		var se *otp.SendError
		if !errors.As(err, &se) || !se.Permanent || se.Channel != telegram.Channel {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s := err.Error(); (m.Code != "" && strings.Contains(s, m.Code)) || strings.Contains(s, "ssssssss") {
			t.Errorf("%s: error quotes the code or the callback's query: %s", name, s)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      func(*telegramfake.Server, *otp.Message)
		permanent  bool
		account    bool
		apiError   string // the APIError's Name; "" none
		status     int
		retryAfter time.Duration
	}{
		{"invalid number", func(_ *telegramfake.Server, m *otp.Message) { m.To = "4155552671" }, true, false, "PHONE_NUMBER_INVALID", 200, 0},
		{"number without Telegram", func(f *telegramfake.Server, _ *otp.Message) { f.WithoutTelegram(msg.To) }, true, false, "PHONE_NUMBER_NOT_FOUND", 200, 0},
		{"flood wait", script(telegramfake.Response{Error: "FLOOD_WAIT_3"}), false, false, "FLOOD_WAIT_3", 200, 3 * time.Second},
		{"flood wait as a 429", script(telegramfake.Response{Status: 429, Error: "FLOOD_WAIT_7", RetryAfter: "2"}), false, false, "FLOOD_WAIT_7", 429, 7 * time.Second},
		{"proxy 429", script(telegramfake.Response{Status: 429, RetryAfter: "5"}), false, false, "", 429, 5 * time.Second},
		{"500", script(telegramfake.Response{Status: 500}), false, false, "", 500, 0},
		{"502 page", script(telegramfake.Response{Status: 502, RawBody: "<html>bad gateway</html>"}), false, false, "", 502, 0},
		{"unreadable 200", script(telegramfake.Response{RawBody: "<html>captive portal</html>"}), false, false, "", 200, 0},
		{"404 page", script(telegramfake.Response{Status: 404, RawBody: "not found"}), true, true, "", 404, 0},
		{"unknown error", script(telegramfake.Response{Error: "INTERNAL"}), false, false, "INTERNAL", 200, 0},
		{"unknown number error, lower case", script(telegramfake.Response{Error: "phone_number_banned"}), true, false, "phone_number_banned", 200, 0},
		{"no balance", func(f *telegramfake.Server, _ *otp.Message) { f.SetBalance(0) }, true, true, "BALANCE_NOT_ENOUGH", 200, 0},
		{"callback refused", func(_ *telegramfake.Server, m *otp.Message) { m.StatusCallback = "http://otp.example/cb" }, true, true, "CALLBACK_URL_INVALID", 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := telegramfake.Start(token)
			defer fake.Close()
			m := msg
			tc.setup(fake, &m)
			_, err := newClient(t, fake, nil).Send(context.Background(), m)
			var se *otp.SendError
			if !errors.As(err, &se) {
				t.Fatalf("want SendError, got %v", err)
			}
			var ae *telegram.APIError
			name := ""
			if errors.As(err, &ae) {
				name = ae.Name
			}
			if se.Permanent != tc.permanent || se.Account != tc.account || se.HTTPStatus != tc.status ||
				se.RetryAfter != tc.retryAfter || se.Channel != telegram.Channel || name != tc.apiError {
				t.Fatalf("got %+v (%v)", se, err)
			}
		})
	}
}

func script(rs ...telegramfake.Response) func(*telegramfake.Server, *otp.Message) {
	return func(f *telegramfake.Server, _ *otp.Message) { f.Script(rs...) }
}

// A wrong token fails every message alike: an operator's to fix.
func TestWrongTokenIsAnAccountError(t *testing.T) {
	fake := telegramfake.Start("the-right-token")
	defer fake.Close()
	_, err := newClient(t, fake, nil).Send(context.Background(), msg)
	var se *otp.SendError
	var ae *telegram.APIError
	if !errors.As(err, &se) || !se.Permanent || !se.Account || !errors.As(err, &ae) || ae.Name != "ACCESS_TOKEN_INVALID" {
		t.Fatalf("got %v", err)
	}
}

// Errors end up in asynq's task record and in logs: never the token, never
// a whole number, whatever Telegram or the network says.
func TestErrorsKeepSecrets(t *testing.T) {
	fake := telegramfake.Start(token)
	fake.Script(telegramfake.Response{Error: "BAD_TOKEN " + token},
		telegramfake.Response{Error: "PHONE_NUMBER_INVALID +14155552671 " + strings.Repeat("x", 200)})
	c := newClient(t, fake, nil)
	var errs []error
	for range 2 {
		_, err := c.Send(context.Background(), msg)
		errs = append(errs, err)
	}
	fake.Close()
	_, err := c.Send(context.Background(), msg) // a refused connection
	errs = append(errs, err)
	for _, err := range errs {
		s := err.Error()
		if err == nil || strings.Contains(s, token) || strings.Contains(s, "AAE-gateway") || strings.Contains(s, "4155552671") || len(s) > 300 {
			t.Errorf("error text: %v", err)
		}
	}
	var se *otp.SendError
	if !errors.As(errs[1], &se) || !se.Permanent {
		t.Fatalf("a number refusal with trailing words: %v", errs[1])
	}
}

func TestContextAndTimeoutBoundTheCall(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.Script(telegramfake.Response{Delay: 5 * time.Second}, telegramfake.Response{Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newClient(t, fake, nil).Send(ctx, msg)
	var se *otp.SendError
	if !errors.As(err, &se) || se.Permanent || time.Since(start) > 2*time.Second {
		t.Fatalf("context deadline: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	_, err = newClient(t, fake, func(c *telegram.Config) { c.Timeout = 200 * time.Millisecond }).Send(context.Background(), msg)
	if !errors.As(err, &se) || se.Permanent || time.Since(start) > 3*time.Second {
		t.Fatalf("HTTP timeout: %v after %v", err, time.Since(start))
	}
}

// A prefix in the API URL (an egress proxy's) is kept: the fake serves no
// prefix, so it answers UNKNOWN_METHOD, an operator's error.
func TestAPIURLWithPathPrefix(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	_, err := newClient(t, fake, func(c *telegram.Config) { c.APIURL = fake.URL + "/gw/" }).Send(context.Background(), msg)
	var ae *telegram.APIError
	if !errors.As(err, &ae) || ae.Name != "UNKNOWN_METHOD" || fake.Requests()[0].Method != "gw/sendVerificationMessage" {
		t.Fatalf("got %v", err)
	}
}

func TestRevoke(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	c := newClient(t, fake, nil)
	r, err := c.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(context.Background(), r.MessageSID); err != nil {
		t.Fatal(err)
	}
	if got := fake.Revoked(); len(got) != 1 || got[0] != r.MessageSID {
		t.Fatalf("revoked %v", got)
	}
	var se *otp.SendError
	if err := c.Revoke(context.Background(), "unknown"); !errors.As(err, &se) || !se.Permanent {
		t.Fatalf("unknown id: %v", err)
	}
	before := len(fake.Requests())
	if err := c.Revoke(context.Background(), ""); !errors.As(err, &se) || !se.Permanent || len(fake.Requests()) != before {
		t.Fatalf("no id: %v", err)
	}
	fake.Script(telegramfake.Response{RawBody: `{"ok":true,"result":false}`})
	if err := c.Revoke(context.Background(), r.MessageSID); !errors.As(err, &se) || se.Permanent {
		t.Fatalf("result false: %v", err)
	}
}

func TestNew(t *testing.T) {
	for name, cfg := range map[string]telegram.Config{
		"no token":          {APIURL: "http://127.0.0.1:1"},
		"token with a line": {Token: "abc\n", APIURL: "http://127.0.0.1:1"},
		"ftp URL":           {Token: token, APIURL: "ftp://127.0.0.1"},
		"URL without host":  {Token: token, APIURL: "https:///x"},
		"URL with a query":  {Token: token, APIURL: "https://127.0.0.1/?token=hush"},
		"URL with a user":   {Token: token, APIURL: "https://u:hush@127.0.0.1/"},
		"bad sender":        {Token: token, APIURL: "http://127.0.0.1:1", SenderUsername: "otp codes"},
	} {
		_, err := telegram.New(cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "hush") {
			t.Errorf("%s: error shows a secret: %v", name, err)
		}
	}
	// The default URL is Telegram's; nothing is sent here.
	if _, err := telegram.New(telegram.Config{Token: token}); err != nil {
		t.Fatal(err)
	}
}

func TestMapStatus(t *testing.T) {
	for in, want := range map[string]otp.DeliveryStatus{
		"sent": otp.DeliverySent, "delivered": otp.DeliveryDelivered, "read": otp.DeliveryDelivered,
		"expired": otp.DeliveryUndelivered, "revoked": otp.DeliveryFailed,
		"": "", "SENT": "", "queued": "",
	} {
		if got := telegram.MapStatus(in); got != want {
			t.Errorf("MapStatus(%q) = %q, want %q", in, got, want)
		}
	}
}
