package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/otp"
)

// redisServer is the one throw-away redis-server of this package. Tests that
// use it run one after another (no t.Parallel at the top level) and start
// from an empty database, so none sees another's state.
var redisServer *redistest.Server

// testHooks configures the Twilio status webhook for the router tests.
var testHooks = webhookConfig{PublicURL: "https://otp.example", AuthToken: "webhooktoken0123"}

func TestMain(m *testing.M) {
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}

// Two keys are configured so that every test also proves rotation works:
// requests use the first, TestAuth tries the second.
var testKeys = []string{"test-key-one-0123456789", "test-key-two-9876543210"}

const (
	testSecret = "test-secret-0123456789-0123456789-abcdef"
	codeLength = 6
	phone      = "+14155552671"
	// phoneNational is phone written the way a US user types it; the
	// policy's default region US makes it the same number.
	phoneNational = "(415) 555-2671"
	otherPhone    = "+14155550123"
)

// testPolicy keeps the limits small so every limit is reached in a few
// requests; the clock, not sleeping, moves past cooldowns and expiry.
var testPolicy = otptest.Policy

// fixture is the real router over the real service, store and asynq queue,
// on a freshly flushed Redis; f.Queue.Fail makes enqueueing fail, to
// exercise the rollback of a send whose task cannot be queued.
type fixture struct {
	*otptest.Fixture
	h http.Handler
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, testPolicy, testLogger(t))
}

func newFixtureWith(t testing.TB, policy otp.Policy, log *slog.Logger) *fixture {
	t.Helper()
	return fixtureOf(t, app.Options{Policy: policy, Log: log}, nil)
}

// fixtureOf is the fixture of the service o describes, and the routes
// over it; metrics and opts are newHandler's.
func fixtureOf(t testing.TB, o app.Options, metrics http.Handler, opts ...handlerOption) *fixture {
	t.Helper()
	o.Secret, o.CodeLength = []byte(testSecret), codeLength
	f := &fixture{Fixture: otptest.New(t, redisServer, o)}
	f.h = newHandler(f.deps(o.Log, f.Svc), metrics, opts...)
	return f
}

// routes is the router over the service o describes, built on the
// fixture's Redis, clock and queue switch as the api builds it; nothing is
// flushed. metrics and opts are newHandler's.
func (f *fixture) routes(t testing.TB, o app.Options, hooks webhookConfig, metrics http.Handler, opts ...handlerOption) http.Handler {
	t.Helper()
	o.Clock = f.Clock.Now
	parts := buildOn(t, f.RDB, &o)
	d := parts.Deps
	d.Queue = f.Queue
	svc := otp.NewService(o.Policy, d)
	return newHandler(deps{log: o.Log, svc: svc, fraud: svc, idem: parts.Idempotency, writes: parts.Limits,
		apiKeys: testKeys, codeLength: codeLength, hooks: hooks}, metrics, opts...)
}

// buildOn builds the service o describes on rdb, with the tests' secret,
// code length and (unless o has one) logger.
func buildOn(t testing.TB, rdb redis.UniversalClient, o *app.Options) *app.Parts {
	t.Helper()
	o.Secret, o.CodeLength = []byte(testSecret), codeLength
	if o.Log == nil {
		o.Log = testLogger(t)
	}
	parts, err := app.Build(rdb, *o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parts.Asynq.Close() })
	return parts
}

// deps are what the routes of the fixture work through, with svc.
func (f *fixture) deps(log *slog.Logger, svc verifications) deps {
	d := deps{log: log, svc: svc, idem: f.Idempotency, writes: f.Limits, apiKeys: testKeys, codeLength: codeLength, hooks: testHooks}
	d.fraud, _ = svc.(fraudAdmin)
	return d
}

// testLogger sends the service's log lines to the test's own output, shown
// only for failing tests or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve runs one request through h with the first API key. body is sent
// as is when it is a string or []byte and as JSON otherwise.
func serve(h http.Handler, method, path string, body any) *httptest.ResponseRecorder {
	return serveAuth(h, method, path, body, "Bearer "+testKeys[0])
}

// serveAuth is serve with a chosen Authorization header ("" sends none).
func serveAuth(h http.Handler, method, path string, body any, auth string) *httptest.ResponseRecorder {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func (f *fixture) do(method, path string, body any) *httptest.ResponseRecorder {
	return serve(f.h, method, path, body)
}

// obj is a JSON object body, written inline in tables.
type obj = map[string]any

// strictDecode decodes a JSON answer into dst and fails on any member dst
// does not declare: that is how the tests prove a verification never grows
// a field carrying code material.
func strictDecode(t testing.TB, w *httptest.ResponseRecorder, dst any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("decode %T from %s: %v", dst, w.Body, err)
	}
}

// wantStatus fails unless the answer has the given status.
func wantStatus(t testing.TB, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
}

// wantVerification asserts a 2xx JSON verification answer and returns it.
func wantVerification(t testing.TB, w *httptest.ResponseRecorder, status int) otp.Verification {
	t.Helper()
	wantStatus(t, w, status)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var v otp.Verification
	strictDecode(t, w, &v)
	return v
}

// checkAnswer is the body of a 200 from the check route.
type checkAnswer struct {
	Valid bool `json:"valid"`
	otp.Verification
}

func wantCheck(t testing.TB, w *httptest.ResponseRecorder) checkAnswer {
	t.Helper()
	wantStatus(t, w, http.StatusOK)
	var a checkAnswer
	strictDecode(t, w, &a)
	return a
}

// wantProblem asserts an RFC 9457 answer with the given status and code,
// and the headers the contract ties to some statuses.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, status int, code string) Problem {
	t.Helper()
	wantStatus(t, w, status)
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p Problem
	strictDecode(t, w, &p)
	if p.Code != code || p.Status != status || p.Type != "urn:otpd:problem:"+code || p.Title == "" {
		t.Fatalf("problem = %+v, want status %d code %q", p, status, code)
	}
	// Every 429 says when to come back; any other Retry-After (a 503's) must
	// be just as well-formed.
	if ra := w.Header().Get("Retry-After"); status == http.StatusTooManyRequests || ra != "" || p.RetryAfter != 0 {
		n, err := strconv.Atoi(ra)
		if err != nil || n < 1 || n != p.RetryAfter {
			t.Fatalf("Retry-After = %q (body retryAfter %d): want whole seconds >= 1, equal in both", ra, p.RetryAfter)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without a Bearer WWW-Authenticate: %q", w.Header().Get("WWW-Authenticate"))
	}
	return p
}

// start sends a code to `to` and expects a 202.
func (f *fixture) start(t testing.TB, to string) otp.Verification {
	t.Helper()
	w := f.do("POST", "/v1/verifications", obj{"to": to})
	v := wantVerification(t, w, http.StatusAccepted)
	if loc := w.Header().Get("Location"); loc != "/v1/verifications/"+v.ID {
		t.Fatalf("Location = %q for id %q", loc, v.ID)
	}
	return v
}

// code recovers a verification's code: read the
// sealed code from Redis and open it. "" means the code is dead.
func (f *fixture) code(t testing.TB, id string) string {
	t.Helper()
	if _, ok := otp.TagOfID(id); !ok {
		t.Fatalf("malformed id %q", id)
	}
	sealed, err := f.Store.SealedCode(context.Background(), id)
	if err != nil {
		t.Fatalf("SealedCode(%s): %v", id, err)
	}
	if sealed == "" {
		return ""
	}
	code, err := f.Codec.Open(id, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// liveCode is code for a verification whose code must still exist.
func (f *fixture) liveCode(t testing.TB, id string) string {
	t.Helper()
	c := f.code(t, id)
	if len(c) != codeLength {
		t.Fatalf("verification %s has no live code (%q)", id, c)
	}
	return c
}

// wrong returns a well-formed code that differs from code.
func wrong(code string) string {
	last := (code[len(code)-1]-'0'+1)%10 + '0'
	return code[:len(code)-1] + string(rune(last))
}

// otherID is a well-formed id, for the same number, that differs from id
// in its last hex digit: a verification that does not exist.
func otherID(id string) string {
	const hex = "0123456789abcdef"
	last := hex[(strings.IndexByte(hex, id[len(id)-1])+1)%len(hex)]
	return id[:len(id)-1] + string(last)
}

// noCode fails if body mentions code anywhere but inside the id or the
// phone number, where a 6-digit run can legitimately occur by chance.
func noCode(t testing.TB, body []byte, code string, v otp.Verification) {
	t.Helper()
	s := strings.NewReplacer(v.ID, "", v.To, "").Replace(string(body))
	if strings.Contains(s, code) {
		t.Fatalf("answer contains the code %s: %s", code, body)
	}
}
