package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/client/internal/oapi"
)

// script is an API that answers each request with the next scripted
// answer, and records what it got. These tests pin the client's retry and
// error rules; internal/suites/e2e runs the client against the real binaries.
type script struct {
	*httptest.Server
	mu      sync.Mutex
	answers []answer
	got     []*http.Request
}

type answer struct {
	status     int
	body       string
	retryAfter int
	hangUp     bool // close the connection without an answer
}

const verificationJSON = `{"id":"VEc1538c254ad16346e58005d9e88ecf57","to":"+14155552671","channel":"sms","locale":"en",
"status":"pending","sendAttempts":1,"checkAttempts":0,"createdAt":"2026-11-25T18:22:14.236Z","expiresAt":"2026-11-25T18:32:14.236Z",
"delivery":{"channel":"sms","status":"queued","updatedAt":"2026-11-25T18:22:14.236Z"},
"attempts":[{"attempt":1,"channel":"sms","queuedAt":"2026-11-25T18:22:14.236Z","status":"queued","updatedAt":"2026-11-25T18:22:14.236Z"}]}`

func problemJSON(status int, code string, extra string) string {
	return `{"type":"urn:otpd:problem:` + code + `","title":"` + http.StatusText(status) + `","status":` + strconv.Itoa(status) +
		`,"code":"` + code + `","detail":"d"` + extra + `}`
}

func (s *script) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.got...)
}

func (s *script) then(answers ...answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = answers
}

func newScript(t *testing.T, answers ...answer) *script {
	s := &script{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.Clone(context.Background()))
		a := answer{status: 500, body: problemJSON(500, "internal", "")}
		if len(s.answers) > 0 {
			a, s.answers = s.answers[0], s.answers[1:]
		}
		s.mu.Unlock()
		if a.hangUp {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		ctype := "application/json"
		if a.status >= 400 {
			ctype = "application/problem+json"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("X-Request-ID", "req-1")
		if a.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(a.retryAfter))
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(s.Close)
	return s
}

// newTestClient records the waits instead of sleeping.
func newTestClient(t *testing.T, url string, opts ...Option) (*Client, *[]time.Duration) {
	c, err := New(url, "key-1", opts...)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, &waits
}

func TestStartRetriesWithTheSameKey(t *testing.T) {
	unavailable := problemJSON(503, "unavailable", `,"retryAfter":2`)
	s := newScript(t,
		answer{status: 503, body: unavailable, retryAfter: 2},
		answer{hangUp: true},
		answer{status: 409, body: problemJSON(409, "idempotency_in_progress", `,"retryAfter":1`), retryAfter: 1},
		answer{status: 202, body: verificationJSON})
	c, waits := newTestClient(t, s.URL)
	v, err := c.Start(context.Background(), StartRequest{To: "+14155552671", Workflow: []Channel{ChannelSMS, ChannelCall},
		ChannelTimeout: 30 * time.Second, Locale: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "VEc1538c254ad16346e58005d9e88ecf57" || v.Status != StatusPending || len(v.Attempts) != 1 {
		t.Fatalf("%+v", v)
	}
	if len(s.requests()) != 4 {
		t.Fatalf("%d requests", len(s.requests()))
	}
	key := s.requests()[0].Header.Get("Idempotency-Key")
	if len(key) != 38 || key[0] != '"' {
		t.Fatalf("Idempotency-Key %q: not a quoted UUID", key)
	}
	for i, r := range s.requests() {
		if r.Header.Get("Idempotency-Key") != key || r.Header.Get("Authorization") != "Bearer key-1" ||
			r.Method != http.MethodPost || r.URL.Path != "/v1/verifications" {
			t.Fatalf("request %d: %s %s %v", i, r.Method, r.URL, r.Header)
		}
	}
	// Retry-After's 2s, a short backoff after the lost connection (unless
	// net/http replayed the request itself, as it does for one with an
	// Idempotency-Key), then 1s.
	w := *waits
	if len(w) < 2 || len(w) > 3 || w[0] != 2*time.Second || w[len(w)-1] != time.Second ||
		(len(w) == 3 && (w[1] <= 0 || w[1] > 100*time.Millisecond)) {
		t.Fatalf("waits %v: want 2s, a short backoff, then 1s", w)
	}
	// Another call gets another key.
	s.then(answer{status: 202, body: verificationJSON})
	if _, err := c.Start(context.Background(), StartRequest{To: "+14155552671"}); err != nil {
		t.Fatal(err)
	}
	if s.requests()[4].Header.Get("Idempotency-Key") == key {
		t.Fatal("two starts shared an Idempotency-Key")
	}
}

func TestStartBody(t *testing.T) {
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(202)
		_, _ = w.Write([]byte(verificationJSON))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL)
	_, err := c.Start(context.Background(), StartRequest{To: "+33612345678", Channel: ChannelCall, Locale: "fr",
		ClientIP: "203.0.113.7", IdempotencyKey: `my "key"`, ChannelTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"to": "+33612345678", "channel": "call", "locale": "fr", "clientIp": "203.0.113.7",
		"channelTimeout": 2.0} // rounded up, never down to "the default"
	if len(body) != len(want) {
		t.Fatalf("body %v, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Fatalf("body %v, want %v", body, want)
		}
	}
}

// Refusals are typed errors; only an unanswered request is retried.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []answer
		call     func(*Client) error
		requests int
		code     ErrorCode
		check    func(*testing.T, *Error)
	}{
		{name: "rate limited", answers: []answer{{status: 429, body: problemJSON(429, "rate_limited", `,"retryAfter":30,"limit":"to"`), retryAfter: 30}},
			call: func(c *Client) error {
				_, err := c.Start(context.Background(), StartRequest{To: "+14155552671"})
				return err
			},
			requests: 1, code: CodeRateLimited, check: func(t *testing.T, e *Error) {
				if e.Limit != "to" || e.RetryAfter != 30*time.Second || e.Status != 429 || e.RequestID != "req-1" {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "approved", answers: []answer{{status: 404, body: problemJSON(404, "approved", `,"verificationStatus":"approved"`)}},
			call: func(c *Client) error {
				_, err := c.Check(context.Background(), CheckRequest{ID: "VEc1538c254ad16346e58005d9e88ecf57", Code: "123456"})
				return err
			},
			requests: 1, code: CodeApproved, check: func(t *testing.T, e *Error) {
				if e.VerificationStatus != "approved" {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "503 until the retries end", answers: []answer{
			{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1},
			{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1},
			{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1},
			{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1}},
			call: func(c *Client) error {
				_, err := c.Get(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57")
				return err
			},
			requests: 4, code: CodeUnavailable},
		{name: "a send too few Redis replicas took is retried", answers: []answer{
			{status: 503, body: problemJSON(503, "redis_not_replicated", `,"retryAfter":1`), retryAfter: 1},
			{status: 202, body: verificationJSON}},
			call: func(c *Client) error {
				_, err := c.Start(context.Background(), StartRequest{To: "+14155552671"})
				return err
			},
			requests: 2},
		{name: "a check is retried on 503", answers: []answer{
			{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1},
			{status: 200, body: verificationJSON[:len(verificationJSON)-1] + `,"valid":true}`}},
			call: func(c *Client) error {
				res, err := c.Check(context.Background(), CheckRequest{To: "+14155552671", Code: "123456"})
				if err == nil && !res.Valid {
					return errors.New("not valid")
				}
				return err
			},
			requests: 2},
		{name: "a check is not retried after a lost connection", answers: []answer{{hangUp: true}, {status: 200, body: verificationJSON}},
			call: func(c *Client) error {
				_, err := c.Check(context.Background(), CheckRequest{To: "+14155552671", Code: "123456"})
				if err == nil {
					return errors.New("no error")
				}
				return nil
			},
			requests: 1},
		{name: "a proxy's 503 is not retried on a check", answers: []answer{{status: 503, body: "upstream reset"}, {status: 200, body: verificationJSON}},
			call: func(c *Client) error {
				_, err := c.Check(context.Background(), CheckRequest{To: "+14155552671", Code: "123456"})
				return err
			},
			requests: 1, check: func(t *testing.T, e *Error) {
				if e.Status != 503 || e.Code != "" {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "a gateway's 502 is retried on a read", answers: []answer{{status: 502, body: "bad gateway"}, {status: 200, body: verificationJSON}},
			call: func(c *Client) error {
				_, err := c.Get(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57")
				return err
			},
			requests: 2},
		{name: "a cancel's answer", answers: []answer{{status: 200, body: verificationJSON}},
			call: func(c *Client) error {
				v, err := c.Cancel(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57")
				if err == nil && v.ID == "" {
					return errors.New("empty verification")
				}
				return err
			},
			requests: 1},
		{name: "not a problem document", answers: []answer{{status: 400, body: "<html>no</html>"}},
			call:     func(c *Client) error { _, err := c.Start(context.Background(), StartRequest{To: "x"}); return err },
			requests: 1, check: func(t *testing.T, e *Error) {
				if e.Status != 400 || e.Code != "" {
					t.Fatalf("%+v", e)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tc.answers...)
			c, _ := newTestClient(t, s.URL)
			err := tc.call(c)
			if len(s.requests()) != tc.requests {
				t.Fatalf("%d requests, want %d (err %v)", len(s.requests()), tc.requests, err)
			}
			var e *Error
			switch {
			case tc.code == "" && tc.check == nil:
				if err != nil {
					t.Fatal(err)
				}
				return
			case !errors.As(err, &e):
				t.Fatalf("error %v is no *Error", err)
			case !IsCode(err, tc.code):
				t.Fatalf("code %q, want %q", e.Code, tc.code)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// Waiting ends with the context, and never exceeds the cap.
func TestRetryWaits(t *testing.T) {
	s := newScript(t, answer{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":60`), retryAfter: 60},
		answer{status: 202, body: verificationJSON})
	c, waits := newTestClient(t, s.URL, WithMaxRetryWait(3*time.Second))
	if _, err := c.Start(context.Background(), StartRequest{To: "+14155552671"}); err != nil {
		t.Fatal(err)
	}
	if (*waits)[0] != 3*time.Second {
		t.Fatalf("waited %v", *waits)
	}

	s.then(answer{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1})
	real, err := New(s.URL, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := real.Get(ctx, "VEc1538c254ad16346e58005d9e88ecf57"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	c0, _ := newTestClient(t, s.URL, WithRetries(0))
	s.then(answer{status: 503, body: problemJSON(503, "unavailable", `,"retryAfter":1`), retryAfter: 1})
	n := len(s.requests())
	if _, err := c0.Get(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57"); !IsCode(err, CodeUnavailable) || len(s.requests()) != n+1 {
		t.Fatalf("WithRetries(0): %v after %d requests", err, len(s.requests())-n)
	}
}

func TestNewNeedsAKey(t *testing.T) {
	if _, err := New("http://127.0.0.1:1", ""); err == nil {
		t.Fatal("no error without an API key")
	}
}

// A base URL that could never work is refused by New, not by the first
// request's "unsupported protocol scheme".
func TestNewChecksTheBaseURL(t *testing.T) {
	for _, bad := range []string{"localhost:8080", "127.0.0.1:8080", "otp.internal", "", "ftp://otp.internal",
		"http://", "http:///v1", "http://:8080", "//otp.internal", "http:otp.internal", "http://otp.internal?x=1",
		"http://otp.internal/#top", "http://otp internal", "http://[::1"} {
		if _, err := New(bad, "key-1"); err == nil || !strings.Contains(err.Error(), "otpd client: base URL") {
			t.Errorf("New(%q): %v, want a base URL error", bad, err)
		}
	}
	s := newScript(t, answer{status: 200, body: verificationJSON}, answer{status: 200, body: verificationJSON})
	for _, good := range []string{s.URL, strings.Replace(s.URL, "http://", "HTTP://", 1) + "/"} {
		c, err := New(good, "key-1")
		if err != nil {
			t.Fatalf("New(%q): %v", good, err)
		}
		if _, err := c.Get(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57"); err != nil {
			t.Fatalf("New(%q): %v", good, err)
		}
	}
	// A path is kept: the API may sit under a prefix.
	c, _ := newTestClient(t, s.URL+"/otpd")
	s.then(answer{status: 200, body: verificationJSON})
	if _, err := c.Get(context.Background(), "VE1"); err != nil || s.requests()[2].URL.Path != "/otpd/v1/verifications/VE1" {
		t.Fatalf("%v %v", err, s.requests()[2].URL)
	}
}

// A code that is not the right one is Valid false and no error, whether
// the API counted it (wrong) or refused its shape (400 invalid_request);
// the request's other faults stay errors. internal/suites/e2e checks the
// same against the real api.
func TestCheckMalformedCode(t *testing.T) {
	const id = "VEc1538c254ad16346e58005d9e88ecf57"
	badShape := answer{status: 400, body: problemJSON(400, "invalid_request", "")}
	for _, tc := range []struct {
		name      string
		req       CheckRequest
		answer    answer
		malformed bool
		code      ErrorCode
	}{
		{"by id", CheckRequest{ID: id, Code: "12a456"}, badShape, true, ""},
		{"by number, with an IP", CheckRequest{To: "+14155552671", Code: "1", ClientIP: " 2001:db8::1 "}, badShape, true, ""},
		{"wrong code", CheckRequest{ID: id, Code: "000000"},
			answer{status: 200, body: verificationJSON[:len(verificationJSON)-1] + `,"valid":false}`}, false, ""},
		{"neither id nor to", CheckRequest{Code: "12a456"}, badShape, false, CodeInvalidRequest},
		{"both", CheckRequest{ID: id, To: "+14155552671", Code: "123456"}, badShape, false, CodeInvalidRequest},
		{"a bad client IP", CheckRequest{ID: id, Code: "123456", ClientIP: "fe80::1%eth0"}, badShape, false, CodeInvalidRequest},
		{"finished", CheckRequest{ID: id, Code: "123456"}, answer{status: 404, body: problemJSON(404, "expired", "")}, false, CodeExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, newScript(t, tc.answer).URL)
			res, err := c.Check(context.Background(), tc.req)
			if tc.code != "" {
				if !IsCode(err, tc.code) {
					t.Fatalf("%v %+v, want %s", err, res, tc.code)
				}
				return
			}
			if err != nil || res.Valid || res.Malformed != tc.malformed {
				t.Fatalf("%v %+v, want valid false, malformed %v", err, res, tc.malformed)
			}
			if tc.malformed && res.ID != "" {
				t.Fatalf("%+v: a refused code answers no verification", res)
			}
			if !tc.malformed && res.ID != id {
				t.Fatalf("%+v: no verification", res)
			}
		})
	}
}

// Every member of the API's answers reaches a field of this package's
// types: a member the spec adds, and make generate brings, fails here
// until the types carry it.
func TestTypesCoverTheAnswers(t *testing.T) {
	for _, pair := range [][2]any{
		{oapi.Verification{}, Verification{}}, {oapi.CheckResult{}, CheckResult{}}, {oapi.Delivery{}, Delivery{}},
		{oapi.Attempt{}, Attempt{}}, {oapi.Workflow{}, Workflow{}}, {oapi.WorkflowStep{}, WorkflowStep{}},
		{oapi.FraudBlock{}, FraudBlock{}}, {oapi.SafeListEntry{}, SafeListEntry{}},
	} {
		gen, own := reflect.TypeOf(pair[0]), reflect.TypeOf(pair[1])
		for i := range gen.NumField() {
			name, _, _ := strings.Cut(gen.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if _, ok := own.FieldByNameFunc(func(f string) bool { return strings.EqualFold(f, name) }); !ok {
				t.Errorf("%s has no field for the API's %s.%s", own, gen.Name(), name)
			}
		}
	}
}

// The answers' optional members become plain values: "" or 0 or a zero
// time when absent.
func TestVerificationFields(t *testing.T) {
	full := `{"id":"VEc1538c254ad16346e58005d9e88ecf57","to":"+14155552671","channel":"call","locale":"fr",
"status":"pending","sendAttempts":2,"checkAttempts":1,"createdAt":"2026-11-25T18:22:14.236Z","expiresAt":"2026-11-25T18:32:14.236Z",
"delivery":{"channel":"call","status":"failed","reason":"twilio_error","messageSid":"CA01","rawStatus":"busy","errorCode":30003,"updatedAt":"2026-11-25T18:22:20Z"},
"attempts":[{"attempt":1,"channel":"sms","queuedAt":"2026-11-25T18:22:14.236Z","status":"queued","updatedAt":"2026-11-25T18:22:14.236Z"},
{"attempt":2,"channel":"call","queuedAt":"2026-11-25T18:22:15Z","status":"failed","reason":"twilio_error","messageSid":"CA01","rawStatus":"busy","errorCode":30003,"updatedAt":"2026-11-25T18:22:20Z"}],
"workflow":{"channelTimeout":30,"steps":[{"step":1,"channel":"sms","status":"timed_out","attempt":1,"startedAt":"2026-11-25T18:22:14Z","endedAt":"2026-11-25T18:22:44Z","reason":"timeout"},
{"step":2,"channel":"call","status":"pending"}]}}`
	c, _ := newTestClient(t, newScript(t, answer{status: 200, body: full}).URL)
	v, err := c.Get(context.Background(), "VEc1538c254ad16346e58005d9e88ecf57")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339Nano, s); return tm }
	d := Delivery{Channel: ChannelCall, Status: "failed", Reason: "twilio_error", MessageSID: "CA01", RawStatus: "busy",
		ErrorCode: 30003, UpdatedAt: at("2026-11-25T18:22:20Z")}
	want := Verification{ID: "VEc1538c254ad16346e58005d9e88ecf57", To: "+14155552671", Channel: ChannelCall, Locale: "fr",
		Status: StatusPending, SendAttempts: 2, CheckAttempts: 1, CreatedAt: at("2026-11-25T18:22:14.236Z"),
		ExpiresAt: at("2026-11-25T18:32:14.236Z"), Delivery: d,
		Attempts: []Attempt{
			{Attempt: 1, Channel: ChannelSMS, Status: "queued", QueuedAt: at("2026-11-25T18:22:14.236Z"), UpdatedAt: at("2026-11-25T18:22:14.236Z")},
			{Attempt: 2, Channel: ChannelCall, Status: "failed", Reason: "twilio_error", MessageSID: "CA01", RawStatus: "busy",
				ErrorCode: 30003, QueuedAt: at("2026-11-25T18:22:15Z"), UpdatedAt: at("2026-11-25T18:22:20Z")}},
		Workflow: &Workflow{ChannelTimeout: 30 * time.Second, Steps: []WorkflowStep{
			{Step: 1, Channel: ChannelSMS, Status: "timed_out", Attempt: 1, Reason: "timeout",
				StartedAt: at("2026-11-25T18:22:14Z"), EndedAt: at("2026-11-25T18:22:44Z")},
			{Step: 2, Channel: ChannelCall, Status: "pending"}}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got  %+v\nwant %+v", v, want)
	}
}
