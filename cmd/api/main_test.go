package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
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
var testPolicy = otp.Policy{
	TTL: 10 * time.Minute, Retention: 24 * time.Hour, Cooldown: 30 * time.Second,
	MaxSends: 3, MaxChecks: 3, DefaultRegion: "US",
}

// newClock is a settable clock for the service. It starts at the real time
// so that the asynq task deadline (the code's expiry) lies in the future.
func newClock() *clocktest.Clock { return clocktest.New(time.Now().UTC().Truncate(time.Second)) }

// switchQueue is the real asynq queue with a switch that makes enqueueing
// fail, to exercise the rollback of a send whose task cannot be queued.
type switchQueue struct {
	real otp.Queue
	fail atomic.Bool
}

func (q *switchQueue) ScheduleStep(ctx context.Context, id string, step int, in time.Duration) error {
	return q.real.ScheduleStep(ctx, id, step, in)
}

func (q *switchQueue) EnqueueSend(ctx context.Context, job otp.SendJob) error {
	if q.fail.Load() {
		return errors.New("test: queue is down")
	}
	return q.real.EnqueueSend(ctx, job)
}

// fixture is the real router over the real service, store and asynq queue,
// on a freshly flushed Redis.
type fixture struct {
	h     http.Handler
	rdb   redis.UniversalClient
	store *otp.Store
	codec *otp.Codec
	clock *clocktest.Clock
	queue *switchQueue
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, testPolicy, testLogger(t))
}

func newFixtureWith(t testing.TB, policy otp.Policy, log *slog.Logger) *fixture {
	t.Helper()
	// redisconn.New gives the production timeouts and retry settings.
	rdb, err := redisconn.New(redisServer.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	codec, err := otp.NewCodec([]byte(testSecret), codeLength, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		rdb: rdb, codec: codec, clock: newClock(),
		queue: &switchQueue{real: tasks.NewQueue(asynq.NewClientFromRedisClient(rdb))},
	}
	f.store = otp.NewStore(rdb).WithClock(f.clock.Now)
	svc := otp.NewService(codec, f.store, f.queue, policy, log)
	f.h = newHandler(log, svc, testKeys, codeLength, testHooks, nil)
	return f
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
	tag, ok := otp.TagOfID(id)
	if !ok {
		t.Fatalf("malformed id %q", id)
	}
	_, sealed, err := f.store.GetWithSealed(context.Background(), tag, id)
	if err != nil {
		t.Fatalf("GetWithSealed(%s): %v", id, err)
	}
	if sealed == "" {
		return ""
	}
	code, err := f.codec.Open(id, sealed)
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
