package twilio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "authtoken0123456789"
)

func newSender(t *testing.T, fake *twiliofake.Server, mod func(*twilio.Config)) *twilio.Sender {
	t.Helper()
	cfg := twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006", APIURL: fake.URL, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var msg = otp.Message{To: "+14155552671", Body: "Your verification code is: 123456", ValidFor: 9*time.Minute + 30*time.Second}

func TestSendFields(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	m := msg
	m.StatusCallback = "https://otp.example/v1/webhooks/twilio/status"
	r, err := newSender(t, fake, nil).Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || r.MessageSID != reqs[0].SID || r.Status != otp.DeliverySending {
		t.Fatalf("receipt %+v, requests %+v", r, reqs)
	}
	f := reqs[0].Form
	for k, want := range map[string]string{
		"To": msg.To, "From": "+15005550006", "Body": msg.Body, "ValidityPeriod": "570",
		"StatusCallback": "https://otp.example/v1/webhooks/twilio/status", "MessagingServiceSid": "",
	} {
		if f.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, f.Get(k), want)
		}
	}
}

func TestMessagingServiceField(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	if _, err := newSender(t, fake, func(c *twilio.Config) { c.From = ""; c.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" }).
		Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	f := fake.Requests()[0].Form
	if f.Get("MessagingServiceSid") != "MG0123456789abcdef0123456789abcdef" || f.Get("From") != "" {
		t.Fatalf("form %v", f)
	}
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name       string
		resp       twiliofake.Response
		permanent  bool
		code       int
		retryAfter time.Duration
	}{
		{"invalid To", twiliofake.Response{Status: 400, Code: 21211}, true, 21211, 0},
		{"unsubscribed", twiliofake.Response{Status: 400, Code: 21610}, true, 21610, 0},
		{"server error", twiliofake.Response{Status: 500, Code: 20500}, false, 20500, 0},
		{"rate limited", twiliofake.Response{Status: 429, Code: 20429, RetryAfter: "3"}, false, 20429, 3 * time.Second},
		{"429 without Retry-After", twiliofake.Response{Status: 429, Code: 20429}, false, 20429, 0},
		{"undecodable 502", twiliofake.Response{Status: 502, RawBody: "<html>bad gateway</html>"}, false, 0, 0},
		{"a proxy's JSON 502", twiliofake.Response{Status: 502, RawBody: `{"error":"bad gateway"}`}, false, 0, 0},
		{"a JSON null 503", twiliofake.Response{Status: 503, RawBody: `null`}, false, 0, 0},
		{"concurrency code on 400", twiliofake.Response{Status: 400, Code: 20429}, false, 20429, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := twiliofake.Start(sid, token)
			defer fake.Close()
			fake.Script(tc.resp)
			_, err := newSender(t, fake, nil).Send(context.Background(), msg)
			var se *otp.SendError
			if !errors.As(err, &se) {
				t.Fatalf("want SendError, got %v", err)
			}
			if se.Permanent != tc.permanent || se.Code != tc.code || se.RetryAfter != tc.retryAfter {
				t.Fatalf("got %+v", se)
			}
		})
	}
}

// Twilio's error text quotes the number; the error must not carry it into
// asynq's task record or a log.
func TestErrorsMaskTheNumber(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Script(twiliofake.Response{Status: 400, Code: 21211})
	_, err := newSender(t, fake, nil).Send(context.Background(), msg)
	if err == nil {
		t.Fatal("want error")
	}
	var se *otp.SendError
	if !errors.As(err, &se) || se.Code != 21211 {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), "4155552671") || !strings.Contains(err.Error(), "+1415******71") {
		t.Fatalf("error text: %v", err)
	}
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	fake := twiliofake.Start(sid, "othertoken")
	defer fake.Close()
	_, err := newSender(t, fake, nil).Send(context.Background(), msg)
	var se *otp.SendError
	if !errors.As(err, &se) || !se.Permanent || se.Code != 20003 {
		t.Fatalf("got %v", err)
	}
}

func TestContextAndTimeoutBoundTheCall(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Script(twiliofake.Response{Delay: 5 * time.Second}, twiliofake.Response{Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newSender(t, fake, nil).Send(ctx, msg)
	var se *otp.SendError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("want transient error, got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("context deadline ignored")
	}
	start = time.Now()
	_, err = newSender(t, fake, func(c *twilio.Config) { c.Timeout = 200 * time.Millisecond }).Send(context.Background(), msg)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("HTTP timeout ignored: %v", err)
	}
}

func TestAPIURLWithPathPrefix(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	// A gateway that mounts Twilio under a prefix is reached at base+path;
	// the fake only serves the bare path, so the prefix must show up as a 404.
	_, err := newSender(t, fake, func(c *twilio.Config) { c.APIURL = fake.URL + "/gw" }).Send(context.Background(), msg)
	var se *otp.SendError
	if !errors.As(err, &se) || se.HTTPStatus != 404 {
		t.Fatalf("got %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]twilio.Config{
		"no url":    {AccountSID: sid, AuthToken: token, From: "+1"},
		"no creds":  {APIURL: "http://x", From: "+1"},
		"no sender": {APIURL: "http://x", AccountSID: sid, AuthToken: token},
	} {
		if _, err := twilio.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMapStatus(t *testing.T) {
	for in, want := range map[string]otp.DeliveryStatus{
		"queued": otp.DeliverySending, "accepted": otp.DeliverySending, "sending": otp.DeliverySending,
		"sent": otp.DeliverySent, "delivered": otp.DeliveryDelivered, "undelivered": otp.DeliveryUndelivered,
		"failed": otp.DeliveryFailed, "canceled": otp.DeliveryFailed, "read": otp.DeliveryDelivered,
		// Some segments did not arrive; the code may be in one of them.
		"partially_delivered": otp.DeliveryUndelivered,
		"scheduled":           otp.DeliverySending,
	} {
		if got := twilio.MapStatus(in); got != want {
			t.Errorf("MapStatus(%q) = %s", in, got)
		}
	}
}

// A 201 can carry a message that already failed: its error_code is kept.
func TestAcceptedWithErrorCode(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Script(twiliofake.Response{Code: 30007})
	r, err := newSender(t, fake, nil).Send(context.Background(), msg)
	if err != nil || r.ErrorCode != 30007 || r.Status != otp.DeliveryFailed || r.MessageSID == "" {
		t.Fatalf("receipt %+v, %v", r, err)
	}
	r, err = newSender(t, fake, nil).Send(context.Background(), msg)
	if err != nil || r.ErrorCode != 0 || r.Status != otp.DeliverySending {
		t.Fatalf("a normal 201: %+v, %v", r, err)
	}
}

// ValidityPeriod is whole seconds from 1: with less than 1s left nothing
// is sent, rather than a message without one, which Twilio would keep for
// its default of 36,000 s.
func TestValidityUnderASecondIsNotSent(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	for _, tc := range []struct {
		left time.Duration
		want string // ValidityPeriod sent; "" none sent
	}{
		{0, ""}, {999 * time.Millisecond, ""}, {-time.Second, ""},
		{time.Second, "1"}, {1999 * time.Millisecond, "1"}, {10 * time.Hour, "36000"}, {11 * time.Hour, "36000"},
	} {
		m := msg
		m.ValidFor = tc.left
		before := len(fake.Requests())
		_, err := newSender(t, fake, nil).Send(context.Background(), m)
		reqs := fake.Requests()
		switch {
		case tc.want == "" && (err == nil || len(reqs) != before):
			t.Errorf("%v left: sent anyway (%v)", tc.left, err)
		case tc.want != "" && (err != nil || reqs[len(reqs)-1].Form.Get("ValidityPeriod") != tc.want):
			t.Errorf("%v left: %v, ValidityPeriod %q", tc.left, err, reqs[len(reqs)-1].Form.Get("ValidityPeriod"))
		}
	}
}

// TestConnectionsAreReused: a worker sends with many requests in flight,
// and against Twilio every new connection is a TLS handshake. Go's default
// transport keeps 2 idle connections per host, so a second wave of 40
// concurrent sends would open 38 new ones; the sender keeps Concurrency.
func TestConnectionsAreReused(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.SetLatency(50 * time.Millisecond)
	const n = 40
	s := newSender(t, fake, func(c *twilio.Config) { c.Concurrency = n })
	wave := func() {
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := s.Send(context.Background(), msg)
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	wave()
	first := fake.Connections()
	if first > n {
		t.Fatalf("first wave opened %d connections for %d requests", first, n)
	}
	wave()
	if again := fake.Connections() - first; again > 0 {
		t.Fatalf("second wave opened %d new connections; want them all reused", again)
	}
}

// An answer twilio-go cannot decode (a proxy's HTML error page) still
// frees its connection for the next message: twilio-go neither drains nor
// closes it, so without the sender reading it each send dialed anew.
func TestUndecodableAnswersKeepTheConnection(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	const n = 5
	page := "<html><body>" + strings.Repeat("502 Bad Gateway ", 200) + "</body></html>"
	for range n {
		fake.Script(twiliofake.Response{Status: 502, RawBody: page})
	}
	s := newSender(t, fake, nil)
	for i := range n {
		if _, err := s.Send(context.Background(), msg); err == nil {
			t.Fatalf("send %d: a 502 was taken as sent", i)
		}
	}
	if c := fake.Connections(); c != 1 {
		t.Fatalf("%d sends over %d connections; want one, reused", n, c)
	}
}

// BenchmarkSend is one SMS handed to Twilio (the fake, in this process,
// answering at once): the request built and sent, its answer decoded.
func BenchmarkSend(b *testing.B) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Forget()
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006", APIURL: fake.URL, Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	m := msg
	m.StatusCallback = "https://otp.example/v1/webhooks/twilio/status?a=1&v=VE0123456789abcdef0123456789abcdef"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
