package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/otp"
)

// authedRoutes is every route that needs a key, with a body it accepts.
var authedRoutes = []struct{ method, path, body string }{
	{"POST", "/v1/verifications", `{"to":"` + phone + `"}`},
	{"POST", "/v1/verifications/check", `{"to":"` + phone + `","code":"123456"}`},
	{"GET", "/v1/verifications/VE0123456789ab0123456789abcdef0123", ""},
	{"POST", "/v1/verifications/VE0123456789ab0123456789abcdef0123/cancel", ""},
	{"POST", "/send-code", `{"phoneNumber":"` + phone + `"}`},
	{"POST", "/verify-code", `{"phoneNumber":"` + phone + `","smsCode":"123456"}`},
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	refused := []struct{ name, header string }{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"bearer without space", "Bearer" + testKeys[0]},
		{"wrong key", "Bearer not-the-key"},
		{"key prefix", "Bearer " + testKeys[0][:len(testKeys[0])-1]},
		{"key with suffix", "Bearer " + testKeys[0] + "x"},
		{"both keys", "Bearer " + testKeys[0] + "," + testKeys[1]},
		{"basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+testKeys[0]))},
		{"raw key", testKeys[0]},
		{"token scheme", "Token " + testKeys[0]},
	}
	for _, r := range authedRoutes {
		for _, tc := range refused {
			t.Run(r.method+r.path+"/"+tc.name, func(t *testing.T) {
				wantProblem(t, serveAuth(f.h, r.method, r.path, r.body, tc.header), http.StatusUnauthorized, "unauthorized")
			})
		}
	}
	// Both configured keys work, so a key can be rotated without downtime;
	// the scheme name is case-insensitive (RFC 9110 §11.1).
	accepted := []string{"Bearer " + testKeys[0], "Bearer " + testKeys[1], "bearer " + testKeys[1], "BEARER " + testKeys[0]}
	for i, header := range accepted {
		t.Run(fmt.Sprintf("accepted %d", i), func(t *testing.T) {
			f := newFixture(t)
			w := serveAuth(f.h, "POST", "/v1/verifications", obj{"to": phone}, header)
			wantVerification(t, w, http.StatusAccepted)
		})
	}
	// A refused request has no effect.
	f = newFixture(t)
	serveAuth(f.h, "POST", "/v1/verifications", obj{"to": phone}, "Bearer wrong")
	if n, _ := f.RDB.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("unauthorized send left %d keys", n)
	}
}

// Whatever the body, a bad request is a 4xx problem that says what to fix,
// never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	type route struct{ name, path string }
	routes := []route{
		{"start", "/v1/verifications"},
		{"check", "/v1/verifications/check"},
		{"send-code", "/send-code"},
		{"verify-code", "/verify-code"},
	}
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"empty body", "", 400, "invalid_request"},
		{"whitespace", " \n\t ", 400, "invalid_request"},
		{"null", "null", 400, "invalid_request"},
		{"array", `[{"to":"` + phone + `"}]`, 400, "invalid_request"},
		{"string", `"` + phone + `"`, 400, "invalid_request"},
		{"number", `14155552671`, 400, "invalid_request"},
		{"truncated", `{"to":"` + phone, 400, "invalid_request"},
		{"malformed", `{"to" "x"}`, 400, "invalid_request"},
		{"single quotes", `{'to':'x'}`, 400, "invalid_request"},
		{"trailing comma", `{"to":"x",}`, 400, "invalid_request"},
		{"unknown field", `{"nope":1}`, 400, "invalid_request"},
		{"wrong type number", `{"to":123,"phoneNumber":123,"id":123}`, 400, "invalid_request"},
		{"wrong type bool", `{"to":true}`, 400, "invalid_request"},
		{"wrong type array", `{"to":["x"]}`, 400, "invalid_request"},
		{"wrong type object", `{"to":{"a":1}}`, 400, "invalid_request"},
		{"trailing object", `{} {}`, 400, "invalid_request"},
		{"trailing garbage", `{}x`, 400, "invalid_request"},
		{"trailing brace", `{}}`, 400, "invalid_request"},
		{"invalid UTF-8 outside strings", "{\xff}", 400, "invalid_request"},
		{"invalid UTF-8 in a key", "{\"t\xffo\":\"x\"}", 400, "invalid_request"},
		{"NUL byte", "{\"to\":\"\x00\"}", 400, "invalid_request"},
		{"deep nesting", `{"to":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, 400, "invalid_request"},
		{"huge number", `{"to":1` + strings.Repeat("0", 400) + `}`, 400, "invalid_request"},
		{"just over 16 KiB", `{"to":"` + strings.Repeat("1", maxBody) + `"}`, 413, "request_too_large"},
		{"1 MiB", strings.Repeat(" ", 1<<20), 413, "request_too_large"},
	}
	for _, r := range routes {
		for _, tc := range cases {
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				wantProblem(t, f.do("POST", r.path, tc.body), tc.status, tc.code)
			})
		}
	}
	// Invalid UTF-8 inside a string decodes (to U+FFFD) and then fails
	// validation as the field's own error.
	t.Run("invalid UTF-8 in the number", func(t *testing.T) {
		wantProblem(t, f.do("POST", "/v1/verifications", "{\"to\":\"+1415555\xff2671\"}"), 400, "invalid_phone_number")
	})
	t.Run("invalid UTF-8 in the code", func(t *testing.T) {
		wantProblem(t, f.do("POST", "/v1/verifications/check", "{\"to\":\""+phone+"\",\"code\":\"12345\xff\"}"), 400, "invalid_request")
	})
	// The limit is on the body, not on its JSON: 16 KiB exactly is fine.
	t.Run("exactly 16 KiB", func(t *testing.T) {
		body := `{"to":"` + phone + `"}`
		body += strings.Repeat(" ", maxBody-len(body))
		wantVerification(t, f.do("POST", "/v1/verifications", body), http.StatusAccepted)
	})
}

func TestUnknownRouteAndMethod(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		method, path string
		status       int
		code         string
		allow        string // a 405 must list the allowed methods (RFC 9110)
	}{
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v2/verifications", 404, "not_found", ""},
		{"POST", "/v1/verifications/a/b/c", 404, "not_found", ""},
		{"GET", "/V1/verifications/x", 404, "not_found", ""},
		{"POST", "/v1/verifications/", 404, "not_found", ""}, // a problem, not a redirect
		{"GET", "/healthz/", 404, "not_found", ""},
		{"GET", "/v1/verifications", 405, "method_not_allowed", "POST"},
		{"DELETE", "/v1/verifications/VE0123456789ab0123456789abcdef0123", 405, "method_not_allowed", "GET"},
		{"GET", "/v1/verifications/VE0123456789ab0123456789abcdef0123/cancel", 405, "method_not_allowed", "POST"},
		{"PUT", "/v1/verifications/check", 405, "method_not_allowed", "GET, POST"}, // "check" is also an id to GET
		{"GET", "/send-code", 405, "method_not_allowed", "POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			// No key: routing errors come before authentication.
			w := serveAuth(f.h, tc.method, tc.path, nil, "")
			wantProblem(t, w, tc.status, tc.code)
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Fatalf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

// unavailableFixture is the router over a Redis that cannot answer: its
// client points at addr.
func unavailableFixture(t *testing.T, addr string) http.Handler {
	t.Helper()
	rdb, err := redisconn.New("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	parts := buildOn(t, rdb, &app.Options{Policy: testPolicy})
	return newHandler(deps{log: testLogger(t), svc: parts.Service, idem: parts.Idempotency,
		apiKeys: testKeys, codeLength: codeLength, hooks: testHooks}, nil)
}

// blackhole accepts TCP connections and never answers: a Redis that hangs.
func blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// A Redis that is down or hangs is a prompt 503 unavailable, never a hang
// and never a 500; the liveness probe stays up so the process is not killed
// for a dependency's outage.
func TestRedisUnavailable(t *testing.T) {
	// The bound is a hang guard: requests are bounded by requestTimeout (5s)
	// and the Redis client's own timeouts, so 8s is generous.
	const bound = 8 * time.Second
	backends := []struct {
		name string
		addr func(t testing.TB) string
	}{
		{"refused", proctest.FreeAddr},
		{"hanging", blackhole},
	}
	reqs := append([]struct{ method, path, body string }{{"GET", "/readyz", ""}}, authedRoutes...)

	// Every request is in flight at once: each costs up to a second or two
	// of Redis timeouts, and t.Parallel would be capped at GOMAXPROCS.
	type answer struct {
		w    *httptest.ResponseRecorder
		took time.Duration
	}
	answers := make([][]answer, len(backends))
	var wg sync.WaitGroup
	for i, b := range backends {
		h := unavailableFixture(t, b.addr(t))
		wantStatus(t, serveAuth(h, "GET", "/healthz", nil, ""), http.StatusOK)
		answers[i] = make([]answer, len(reqs))
		for j, r := range reqs {
			wg.Go(func() {
				var body any
				if r.body != "" {
					body = r.body
				}
				start := time.Now()
				w := serve(h, r.method, r.path, body)
				answers[i][j] = answer{w, time.Since(start)}
			})
		}
	}
	wg.Wait()

	for i, b := range backends {
		for j, r := range reqs {
			t.Run(b.name+"/"+r.method+r.path, func(t *testing.T) {
				a := answers[i][j]
				if a.took > bound {
					t.Errorf("answer took %v, want under %v", a.took, bound)
				}
				p := wantProblem(t, a.w, http.StatusServiceUnavailable, "unavailable")
				if r.path != "/readyz" && p.RetryAfter < 1 {
					t.Errorf("API 503 without Retry-After: %s", a.w.Body)
				}
				if p.Message == "" && (r.path == "/send-code" || r.path == "/verify-code") {
					t.Errorf("legacy route's 503 has no message: %s", a.w.Body)
				}
			})
		}
	}
}

// A send whose task cannot be queued leaves nothing behind: the client gets
// 503 and its retry is the send that would have happened.
func TestEnqueueFailureRollsBack(t *testing.T) {
	t.Run("new verification", func(t *testing.T) {
		f := newFixture(t)
		f.Queue.Fail.Store(true)
		for _, path := range []string{"/v1/verifications", "/send-code"} {
			body := obj{"to": phone}
			if path == "/send-code" {
				body = obj{"phoneNumber": phone}
			}
			wantProblem(t, f.do("POST", path, body), http.StatusServiceUnavailable, "unavailable")
		}
		// Nothing for the number: no verification to check, no cooldown.
		wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "123456"}), 404, "not_found")
		if keys, _ := f.RDB.Keys(context.Background(), "otp:*").Result(); len(keys) != 0 {
			t.Fatalf("rolled-back send left keys %v", keys)
		}
		f.Queue.Fail.Store(false)
		v := f.start(t, phone)
		if v.SendAttempts != 1 {
			t.Fatalf("retry: %+v", v)
		}
		code := f.liveCode(t, v.ID)
		if a := wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": code})); !a.Valid {
			t.Fatalf("retry's code does not check: %+v", a)
		}
	})
	t.Run("new verification replacing a finished one", func(t *testing.T) {
		f := newFixture(t)
		old := f.start(t, phone)
		wantStatus(t, f.do("POST", "/v1/verifications/"+old.ID+"/cancel", nil), 200)
		f.Clock.Advance(testPolicy.Cooldown)
		f.Queue.Fail.Store(true)
		wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": phone}), 503, "unavailable")
		// The number still points at the canceled verification.
		wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "123456"}), 404, "canceled")
		f.Queue.Fail.Store(false)
		if v := f.start(t, phone); v.ID == old.ID || v.SendAttempts != 1 {
			t.Fatalf("retry: %+v", v)
		}
	})
	t.Run("resend", func(t *testing.T) {
		f := newFixture(t)
		v := f.start(t, phone)
		code := f.liveCode(t, v.ID)
		f.Clock.Advance(testPolicy.Cooldown)
		f.Queue.Fail.Store(true)
		wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": phone}), 503, "unavailable")
		g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200)
		if g.SendAttempts != 1 || g.Status != otp.StatusPending {
			t.Fatalf("failed resend was counted: %+v", g)
		}
		// The failed resend did not restart the cooldown: retrying at once works.
		f.Queue.Fail.Store(false)
		r := f.start(t, phone)
		if r.ID != v.ID || r.SendAttempts != 2 || f.liveCode(t, v.ID) != code {
			t.Fatalf("retry: %+v", r)
		}
	})
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ name, in string }{
		{"kept", "abc-123_X.y"},
		{"made when missing", ""},
		{"replaced when unsafe", "a b\r\nc"},
		{"replaced when too long", strings.Repeat("a", 65)},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/healthz", nil)
			if tc.in != "" {
				req.Header["X-Request-Id"] = []string{tc.in}
			}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, req)
			got := w.Header().Get("X-Request-ID")
			if !validRequestID(got) || seen[got] {
				t.Fatalf("X-Request-ID = %q", got)
			}
			seen[got] = true
			if (got == tc.in) != (tc.name == "kept") {
				t.Fatalf("X-Request-ID = %q for %q", got, tc.in)
			}
		})
	}
}

// A panic in a handler is a 500 problem, not a dropped connection.
func TestPanicIsProblem(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(requestID(), accessLog(discardLogger()), recoverProblem(discardLogger()))
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	wantProblem(t, w, http.StatusInternalServerError, "internal")
}

// problemFor is the one mapping from domain errors to answers; wrapping
// must not change the answer.
func TestProblemFor(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		code       string
		retryAfter int
	}{
		{&otp.InputError{Detail: "x"}, 400, "invalid_request", 0},
		{fmt.Errorf("wrapped: %w", otp.ErrInvalidInput), 400, "invalid_request", 0},
		{otp.ErrInvalidPhone, 400, "invalid_phone_number", 0},
		{otp.ErrNotFound, 404, "not_found", 0},
		{&otp.FinishedError{Status: otp.StatusApproved}, 404, "approved", 0},
		{&otp.FinishedError{Status: otp.StatusCanceled}, 404, "canceled", 0},
		{&otp.FinishedError{Status: otp.StatusExpired}, 404, "expired", 0},
		{&otp.FinishedError{Status: otp.StatusMaxAttempts}, 404, "expired", 0},
		{&otp.LimitError{Reason: otp.LimitCooldown, RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", 2},
		{&otp.LimitError{Reason: otp.LimitCooldown, RetryAfter: time.Millisecond}, 429, "rate_limited", 1},
		{&otp.LimitError{Reason: otp.LimitCooldown}, 429, "rate_limited", 1},
		{&otp.LimitError{Reason: otp.LimitMaxSends, RetryAfter: time.Minute}, 429, "max_send_attempts", 60},
		{&otp.LimitError{Reason: otp.LimitMaxChecks, RetryAfter: time.Minute}, 429, "max_check_attempts", 60},
		{fmt.Errorf("%w: redis: %w", otp.ErrUnavailable, context.DeadlineExceeded), 503, "unavailable", 1},
		{&http.MaxBytesError{Limit: maxBody}, 413, "request_too_large", 0},
		{errors.New("surprise"), 500, "internal", 0},
	}
	for _, tc := range cases {
		for _, err := range []error{tc.err, fmt.Errorf("outer: %w", tc.err)} {
			t.Run(err.Error(), func(t *testing.T) {
				p := problemFor(err)
				if p.Status != tc.status || p.Code != tc.code || p.RetryAfter != tc.retryAfter {
					t.Fatalf("problemFor = %+v, want %d %s retry %d", p, tc.status, tc.code, tc.retryAfter)
				}
			})
		}
	}
}

// Bodies carry codes and phone numbers; neither may reach a log line, even
// when requests fail.
func TestLogsCarryNoCodeOrNumber(t *testing.T) {
	var buf proctest.Buffer
	// Timestamps and request ids are dropped: their random digits could
	// contain the code by chance.
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "request_id" {
				return slog.Attr{}
			}
			return a
		},
	}))
	f := newFixtureWith(t, testPolicy, log)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": wrong(code)})
	f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": code})
	f.do("POST", "/v1/verifications", obj{"to": phone})
	f.Queue.Fail.Store(true)
	f.do("POST", "/v1/verifications", obj{"to": otherPhone}) // a 503, logged as an error
	out := buf.String()
	if !strings.Contains(out, `"status":503`) {
		t.Fatalf("expected access log lines, got:\n%s", out)
	}
	for _, secret := range []string{code, phone, otherPhone, strings.TrimPrefix(phone, "+1")} {
		if strings.Contains(strings.ReplaceAll(out, v.ID, ""), secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
}
