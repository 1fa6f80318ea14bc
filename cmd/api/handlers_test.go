package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t)
	// No Authorization header: probes must not need a key.
	for _, path := range []string{"/healthz", "/readyz"} {
		w := serveAuth(f.h, "GET", path, nil, "")
		wantStatus(t, w, http.StatusOK)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s: body %q is not JSON", path, w.Body)
		}
	}
}

func TestStart(t *testing.T) {
	cases := []struct {
		name   string
		body   any
		status int
		code   string // problem code when status is not 202
	}{
		{"e164", obj{"to": phone}, http.StatusAccepted, ""},
		{"national format in the default region", obj{"to": phoneNational}, http.StatusAccepted, ""},
		{"spaces around the number", obj{"to": "  " + phone + " "}, http.StatusAccepted, ""},
		{"explicit sms channel", obj{"to": phone, "channel": "sms"}, http.StatusAccepted, ""},
		{"unknown channel", obj{"to": phone, "channel": "voice"}, http.StatusBadRequest, "channel_unavailable"},
		{"channel not enabled", obj{"to": phone, "channel": "call"}, http.StatusBadRequest, "channel_unavailable"},
		{"channel in capitals", obj{"to": phone, "channel": "SMS"}, http.StatusBadRequest, "channel_unavailable"},
		{"unsupported locale", obj{"to": phone, "locale": "tlh"}, http.StatusBadRequest, "invalid_request"},
		{"malformed locale", obj{"to": phone, "locale": "not a tag"}, http.StatusBadRequest, "invalid_request"},
		{"brand not in OTP_BRANDS", obj{"to": phone, "brand": "Evil Bank, call +1 900 555 0199"}, http.StatusBadRequest, "invalid_request"},
		{"short app hash", obj{"to": phone, "appHash": "FA+9qCX9VS"}, http.StatusBadRequest, "invalid_request"},
		{"missing to", obj{}, http.StatusBadRequest, "invalid_request"},
		{"empty to", obj{"to": ""}, http.StatusBadRequest, "invalid_request"},
		{"not a number", obj{"to": "hello"}, http.StatusBadRequest, "invalid_phone_number"},
		{"too short", obj{"to": "+1415"}, http.StatusBadRequest, "invalid_phone_number"},
		{"unassigned area code", obj{"to": "+11115552671"}, http.StatusBadRequest, "invalid_phone_number"},
		{"national number from another region", obj{"to": "020 7946 0958"}, http.StatusBadRequest, "invalid_phone_number"},
		{"absurdly long", obj{"to": "+1" + strings.Repeat("4", 200)}, http.StatusBadRequest, "invalid_phone_number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			now := f.Clock.Now()
			w := f.do("POST", "/v1/verifications", tc.body)
			if tc.status != http.StatusAccepted {
				wantProblem(t, w, tc.status, tc.code)
				if w.Header().Get("Location") != "" {
					t.Fatal("a refused start has a Location header")
				}
				return
			}
			v := wantVerification(t, w, http.StatusAccepted)
			if loc := w.Header().Get("Location"); loc != "/v1/verifications/"+v.ID {
				t.Fatalf("Location = %q, id %q", loc, v.ID)
			}
			if _, ok := otp.TagOfID(v.ID); !ok {
				t.Fatalf("id %q is not a verification id", v.ID)
			}
			want := otp.Verification{
				ID: v.ID, To: phone, Channel: "sms", Locale: "en", Status: otp.StatusPending,
				SendAttempts: 1, CheckAttempts: 0, CreatedAt: now, ExpiresAt: now.Add(testPolicy.TTL),
				Delivery: otp.Delivery{Channel: "sms", Status: otp.DeliveryQueued, UpdatedAt: now},
				Attempts: []otp.Attempt{{Attempt: 1, Channel: "sms", QueuedAt: now, Status: otp.DeliveryQueued, UpdatedAt: now}},
			}
			if !sameVerification(v, want) {
				t.Fatalf("got  %+v\nwant %+v", v, want)
			}
			// The JSON names are the contract's, timestamps RFC 3339.
			var raw map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &raw)
			for _, k := range []string{"id", "to", "channel", "status", "sendAttempts", "checkAttempts", "createdAt", "expiresAt", "delivery"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("member %q missing from %s", k, w.Body)
				}
			}
			if _, err := time.Parse(time.RFC3339, raw["expiresAt"].(string)); err != nil {
				t.Errorf("expiresAt: %v", err)
			}
			noCode(t, w.Body.Bytes(), f.liveCode(t, v.ID), v)
		})
	}
}

// sameVerification compares verifications with time.Equal, so time zones
// and monotonic readings do not matter.
func sameVerification(a, b otp.Verification) bool {
	ta := []time.Time{a.CreatedAt, a.ExpiresAt, a.Delivery.UpdatedAt}
	tb := []time.Time{b.CreatedAt, b.ExpiresAt, b.Delivery.UpdatedAt}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.CreatedAt, a.ExpiresAt, a.Delivery.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	b.CreatedAt, b.ExpiresAt, b.Delivery.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	a.LastSendAt, b.LastSendAt = time.Time{}, time.Time{}
	if len(a.Attempts) != len(b.Attempts) {
		return false
	}
	for i := range a.Attempts {
		x, y := a.Attempts[i], b.Attempts[i]
		if !x.QueuedAt.Equal(y.QueuedAt) || !x.UpdatedAt.Equal(y.UpdatedAt) {
			return false
		}
		x.QueuedAt, x.UpdatedAt, y.QueuedAt, y.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	a.Attempts, b.Attempts = nil, nil
	return reflect.DeepEqual(a, b)
}

// The worker learns everything from Redis: the task names the verification
// and the send attempt, and carries no code.
func TestStartEnqueuesTaskWithoutCode(t *testing.T) {
	f := newFixture(t)
	inspector := asynq.NewInspectorFromRedisClient(f.RDB)

	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	f.Clock.Advance(testPolicy.Cooldown)
	if r := f.start(t, phone); r.ID != v.ID || r.SendAttempts != 2 {
		t.Fatalf("resend: %+v", r)
	}

	infos, err := inspector.ListPendingTasks(tasks.QueueName)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d pending tasks, want 2 (one per send attempt)", len(infos))
	}
	seen := map[int]bool{}
	for _, ti := range infos {
		if ti.Type != tasks.TypeDeliver {
			t.Fatalf("task type %q", ti.Type)
		}
		// Exactly {id, attempt, channel}: any other member could carry the code.
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(ti.Payload, &payload); err != nil {
			t.Fatalf("payload %q: %v", ti.Payload, err)
		}
		if len(payload) != 3 || payload["id"] == nil || payload["attempt"] == nil || string(payload["channel"]) != `"sms"` {
			t.Fatalf("payload %s: want exactly id, attempt and channel", ti.Payload)
		}
		p, err := tasks.ParseDeliveryPayload(ti.Payload)
		if err != nil || p.ID != v.ID {
			t.Fatalf("payload %s: %+v %v", ti.Payload, p, err)
		}
		if ti.ID != v.ID+":"+strconv.Itoa(p.Attempt) {
			t.Fatalf("task id %q for attempt %d: one send attempt must enqueue once", ti.ID, p.Attempt)
		}
		if strings.Contains(strings.ReplaceAll(string(ti.Payload), v.ID, ""), code) {
			t.Fatalf("payload %s contains the code", ti.Payload)
		}
		seen[p.Attempt] = true
	}
	if !seen[1] || !seen[2] {
		t.Fatalf("attempts %v, want 1 and 2", seen)
	}
}

// A resend is the same verification with the same code, one more send
// attempt, and the wrong codes typed so far still counted.
func TestResendKeepsCodeAndCheckCount(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	if a := wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": wrong(code)})); a.CheckAttempts != 1 {
		t.Fatalf("wrong check: %+v", a)
	}

	f.Clock.Advance(testPolicy.Cooldown)
	// The resend names the number in national format: same number, same verification.
	w := f.do("POST", "/v1/verifications", obj{"to": phoneNational, "channel": "sms"})
	r := wantVerification(t, w, http.StatusAccepted)
	if r.ID != v.ID || r.SendAttempts != 2 || r.CheckAttempts != 1 || r.Status != otp.StatusPending {
		t.Fatalf("resend: %+v", r)
	}
	if !r.ExpiresAt.Equal(v.ExpiresAt) {
		t.Fatalf("a resend moved the expiry from %v to %v", v.ExpiresAt, r.ExpiresAt)
	}
	if w.Header().Get("Location") != "/v1/verifications/"+v.ID {
		t.Fatalf("Location = %q", w.Header().Get("Location"))
	}
	if got := f.liveCode(t, v.ID); got != code {
		t.Fatalf("resend changed the code from %s to %s", code, got)
	}
}

// Every send refusal is a 429 whose Retry-After (whole seconds, rounded up,
// at least 1) says when the same request would be accepted.
func TestStartLimits(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(t *testing.T, f *fixture)
		code       string
		retryAfter int
	}{
		{
			name:  "cooldown right after a send",
			setup: func(t *testing.T, f *fixture) { f.start(t, phone) },
			code:  "rate_limited", retryAfter: 30,
		},
		{
			name: "cooldown rounds up to whole seconds",
			setup: func(t *testing.T, f *fixture) {
				f.start(t, phone)
				f.Clock.Advance(10*time.Second + 500*time.Millisecond)
			},
			code: "rate_limited", retryAfter: 20,
		},
		{
			name: "cooldown's last millisecond is still one second",
			setup: func(t *testing.T, f *fixture) {
				f.start(t, phone)
				f.Clock.Advance(testPolicy.Cooldown - time.Millisecond)
			},
			code: "rate_limited", retryAfter: 1,
		},
		{
			name: "max sends",
			setup: func(t *testing.T, f *fixture) {
				for range testPolicy.MaxSends {
					f.start(t, phone)
					f.Clock.Advance(testPolicy.Cooldown)
				}
			},
			// until the verification expires: 10m - 3*30s
			code: "max_send_attempts", retryAfter: 510,
		},
		{
			name: "max checks locks the number",
			setup: func(t *testing.T, f *fixture) {
				v := f.start(t, phone)
				code := f.liveCode(t, v.ID)
				for range testPolicy.MaxChecks {
					f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": wrong(code)})
				}
				f.Clock.Advance(time.Minute)
			},
			code: "max_check_attempts", retryAfter: 540,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(t, f)
			p := wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": phoneNational}), http.StatusTooManyRequests, tc.code)
			if p.RetryAfter != tc.retryAfter {
				t.Fatalf("Retry-After = %d, want %d", p.RetryAfter, tc.retryAfter)
			}
			// Waiting exactly Retry-After seconds must be enough.
			f.Clock.Advance(time.Duration(tc.retryAfter) * time.Second)
			f.start(t, phone)
		})
	}
}

func TestCheck(t *testing.T) {
	// Each scenario runs twice: naming the verification by id and by number.
	type env struct {
		f    *fixture
		v    otp.Verification
		code string
	}
	byID := func(e env, code string) obj { return obj{"id": e.v.ID, "code": code} }
	byTo := func(e env, code string) obj { return obj{"to": phoneNational, "code": code} }

	cases := []struct {
		name   string
		before func(t *testing.T, e env) // runs after the code was sent
		code   func(e env) string        // code to submit
		status int
		valid  bool
		state  otp.Status
		checks int    // checkAttempts in a 200
		pcode  string // problem code otherwise
	}{
		{name: "wrong code", code: func(e env) string { return wrong(e.code) },
			status: 200, state: otp.StatusPending, checks: 1},
		{name: "right code", code: func(e env) string { return e.code },
			status: 200, valid: true, state: otp.StatusApproved},
		{name: "right code after a wrong one", code: func(e env) string { return e.code },
			before: func(t *testing.T, e env) {
				wantCheck(t, e.f.do("POST", "/v1/verifications/check", obj{"id": e.v.ID, "code": wrong(e.code)}))
			},
			status: 200, valid: true, state: otp.StatusApproved, checks: 1},
		{name: "reused code", code: func(e env) string { return e.code },
			before: func(t *testing.T, e env) {
				if !wantCheck(t, e.f.do("POST", "/v1/verifications/check", obj{"id": e.v.ID, "code": e.code})).Valid {
					t.Fatal("first use not valid")
				}
			},
			status: 404, state: otp.StatusApproved, pcode: "approved"},
		{name: "expired", code: func(e env) string { return e.code },
			before: func(t *testing.T, e env) { e.f.Clock.Advance(testPolicy.TTL) },
			status: 404, state: otp.StatusExpired, pcode: "expired"},
		{name: "one millisecond before expiry", code: func(e env) string { return e.code },
			before: func(t *testing.T, e env) { e.f.Clock.Advance(testPolicy.TTL - time.Millisecond) },
			status: 200, valid: true, state: otp.StatusApproved},
		{name: "canceled", code: func(e env) string { return e.code },
			before: func(t *testing.T, e env) {
				wantStatus(t, e.f.do("POST", "/v1/verifications/"+e.v.ID+"/cancel", nil), 200)
			},
			status: 404, state: otp.StatusCanceled, pcode: "canceled"},
		{name: "code too short", code: func(e env) string { return e.code[1:] },
			status: 400, pcode: "invalid_request"},
		{name: "code too long", code: func(e env) string { return e.code + "0" },
			status: 400, pcode: "invalid_request"},
		{name: "code not digits", code: func(e env) string { return "12345a" },
			status: 400, pcode: "invalid_request"},
		{name: "code with unicode digits", code: func(e env) string { return "١٢٣" }, // 6 bytes
			status: 400, pcode: "invalid_request"},
		{name: "missing code", code: func(e env) string { return "" },
			status: 400, pcode: "invalid_request"},
	}
	for _, by := range []struct {
		name string
		req  func(e env, code string) obj
	}{{"by id", byID}, {"by to", byTo}} {
		for _, tc := range cases {
			t.Run(by.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				v := f.start(t, phone)
				e := env{f: f, v: v, code: f.liveCode(t, v.ID)}
				if tc.before != nil {
					tc.before(t, e)
				}
				w := f.do("POST", "/v1/verifications/check", by.req(e, tc.code(e)))
				if tc.status != http.StatusOK {
					p := wantProblem(t, w, tc.status, tc.pcode)
					if p.State != tc.state {
						t.Fatalf("verificationStatus = %q, want %q", p.State, tc.state)
					}
					if tc.status == http.StatusBadRequest {
						// A malformed code is refused before it costs an attempt.
						if g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200); g.CheckAttempts != 0 {
							t.Fatalf("malformed code counted: %+v", g)
						}
					}
					return
				}
				a := wantCheck(t, w)
				if a.Valid != tc.valid || a.Status != tc.state || a.CheckAttempts != tc.checks || a.ID != v.ID || a.To != phone {
					t.Fatalf("check answer %+v, want valid=%v status=%s checkAttempts=%d", a, tc.valid, tc.state, tc.checks)
				}
				noCode(t, w.Body.Bytes(), e.code, v)
			})
		}
	}
}

// Requests that name no pending verification, or name it badly.
func TestCheckRefusals(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	unknownID := otherID(v.ID)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown id", obj{"id": unknownID, "code": code}, 404, "not_found"},
		{"malformed id", obj{"id": "VE123", "code": code}, 404, "not_found"},
		{"upper-case id", obj{"id": strings.ToUpper(v.ID), "code": code}, 404, "not_found"},
		{"unknown number", obj{"to": otherPhone, "code": code}, 404, "not_found"},
		{"invalid number", obj{"to": "12", "code": code}, 400, "invalid_phone_number"},
		{"both id and to", obj{"id": v.ID, "to": phone, "code": code}, 400, "invalid_request"},
		{"neither id nor to", obj{"code": code}, 400, "invalid_request"},
		{"code as a number", obj{"id": v.ID, "code": 123456}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, f.do("POST", "/v1/verifications/check", tc.body), tc.status, tc.code)
		})
	}
	// None of that touched the verification.
	if a := wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": code})); !a.Valid || a.CheckAttempts != 0 {
		t.Fatalf("after refusals: %+v", a)
	}
}

// The OTP_MAX_CHECKS-th wrong code kills the verification; until it would
// have expired, every check (right code included), every send to the number
// and a cancel answer 429 max_check_attempts.
func TestCheckMaxAttempts(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	check := func(body obj) *httptest.ResponseRecorder { return f.do("POST", "/v1/verifications/check", body) }

	for n := 1; n < testPolicy.MaxChecks; n++ {
		a := wantCheck(t, check(obj{"to": phone, "code": wrong(code)}))
		if a.Valid || a.Status != otp.StatusPending || a.CheckAttempts != n {
			t.Fatalf("wrong code %d: %+v", n, a)
		}
	}
	a := wantCheck(t, check(obj{"id": v.ID, "code": wrong(code)}))
	if a.Valid || a.Status != otp.StatusMaxAttempts || a.CheckAttempts != testPolicy.MaxChecks {
		t.Fatalf("last wrong code: %+v", a)
	}
	if f.code(t, v.ID) != "" {
		t.Fatal("the code survived max_attempts_reached")
	}

	f.Clock.Advance(2 * time.Minute)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
	}{
		{"right code by id", "POST", "/v1/verifications/check", obj{"id": v.ID, "code": code}},
		{"right code by to", "POST", "/v1/verifications/check", obj{"to": phone, "code": code}},
		{"wrong code", "POST", "/v1/verifications/check", obj{"id": v.ID, "code": wrong(code)}},
		{"send", "POST", "/v1/verifications", obj{"to": phone}},
		{"cancel", "POST", "/v1/verifications/" + v.ID + "/cancel", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := wantProblem(t, f.do(tc.method, tc.path, tc.body), http.StatusTooManyRequests, "max_check_attempts")
			if p.RetryAfter != 480 {
				t.Fatalf("Retry-After = %d, want 480 (until expiry)", p.RetryAfter)
			}
		})
	}
	g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200)
	if g.Status != otp.StatusMaxAttempts || g.CheckAttempts != testPolicy.MaxChecks {
		t.Fatalf("lock moved the counter: %+v", g)
	}

	// Once the dead verification would have expired, the number is free.
	f.Clock.Advance(testPolicy.TTL)
	wantProblem(t, check(obj{"id": v.ID, "code": code}), 404, "expired")
	n := f.start(t, phone)
	if n.ID == v.ID || n.CheckAttempts != 0 || n.SendAttempts != 1 {
		t.Fatalf("after the lock: %+v", n)
	}
}

// Many clients racing the right code: the Lua check approves exactly once.
func TestCheckConcurrentRightCodeApprovesOnce(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)

	const n = 50
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := obj{"id": v.ID, "code": code}
			if i%2 == 1 {
				body = obj{"to": phone, "code": code}
			}
			answers[i] = f.do("POST", "/v1/verifications/check", body)
		})
	}
	wg.Wait()
	approved := 0
	for _, w := range answers {
		if w.Code == http.StatusOK {
			if a := wantCheck(t, w); a.Valid && a.Status == otp.StatusApproved {
				approved++
				continue
			}
			t.Fatalf("unexpected 200: %s", w.Body)
		}
		wantProblem(t, w, 404, "approved")
	}
	if approved != 1 {
		t.Fatalf("%d approvals, want exactly 1", approved)
	}
}

// Many clients racing wrong codes: the counter stops at OTP_MAX_CHECKS.
func TestCheckConcurrentWrongCodesStopAtLimit(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	bad := wrong(f.liveCode(t, v.ID))

	const n = 50
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": bad}) })
	}
	wg.Wait()
	counts := map[string]int{}
	for _, w := range answers {
		switch w.Code {
		case http.StatusOK:
			counts[string(wantCheck(t, w).Status)]++
		default:
			counts[wantProblem(t, w, http.StatusTooManyRequests, "max_check_attempts").Code]++
		}
	}
	want := map[string]int{"pending": testPolicy.MaxChecks - 1, "max_attempts_reached": 1, "max_check_attempts": n - testPolicy.MaxChecks}
	for k, c := range want {
		if counts[k] != c {
			t.Fatalf("answers %v, want %v", counts, want)
		}
	}
	if g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200); g.CheckAttempts != testPolicy.MaxChecks {
		t.Fatalf("checkAttempts raced to %d", g.CheckAttempts)
	}
}

func TestGet(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)

	w := f.do("GET", "/v1/verifications/"+v.ID, nil)
	if g := wantVerification(t, w, 200); !sameVerification(g, v) {
		t.Fatalf("GET %+v\nstart %+v", g, v)
	}
	noCode(t, w.Body.Bytes(), code, v)

	// Read-time expiry: past expiresAt a pending verification reads expired.
	f.Clock.Advance(testPolicy.TTL)
	if g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200); g.Status != otp.StatusExpired {
		t.Fatalf("after expiry: %+v", g)
	}

	for _, id := range []string{
		otherID(v.ID), // well-formed, unknown
		"nope",
		strings.ToUpper(v.ID),
		v.ID + "0",
		"VE" + strings.Repeat("g", otp.IDLen-2),
		"%00",
		"..%2F..%2Fetc",
	} {
		t.Run(id, func(t *testing.T) {
			wantProblem(t, f.do("GET", "/v1/verifications/"+id, nil), 404, "not_found")
		})
	}
}

// Approved and finished verifications stay readable without their code.
func TestGetAfterApproval(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)
	wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": code}))
	w := f.do("GET", "/v1/verifications/"+v.ID, nil)
	if g := wantVerification(t, w, 200); g.Status != otp.StatusApproved {
		t.Fatalf("%+v", g)
	}
	noCode(t, w.Body.Bytes(), code, v)
	if f.code(t, v.ID) != "" {
		t.Fatal("code material kept after approval")
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	v := f.start(t, phone)
	code := f.liveCode(t, v.ID)

	for range 2 { // cancel is idempotent
		c := wantVerification(t, f.do("POST", "/v1/verifications/"+v.ID+"/cancel", nil), 200)
		if c.ID != v.ID || c.Status != otp.StatusCanceled {
			t.Fatalf("cancel: %+v", c)
		}
	}
	if f.code(t, v.ID) != "" {
		t.Fatal("the code survived the cancel")
	}
	p := wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": code}), 404, "canceled")
	if p.State != otp.StatusCanceled {
		t.Fatalf("%+v", p)
	}
	if g := wantVerification(t, f.do("GET", "/v1/verifications/"+v.ID, nil), 200); g.Status != otp.StatusCanceled {
		t.Fatalf("GET after cancel: %+v", g)
	}
	// A send after the cooldown starts a new verification. (Whether a send
	// right after a cancel must wait for the cooldown is not pinned here.)
	f.Clock.Advance(testPolicy.Cooldown)
	if n := f.start(t, phone); n.ID == v.ID {
		t.Fatal("send after cancel reused the canceled verification")
	}

	for _, tc := range []struct {
		name string
		id   string
		code string
	}{
		{"malformed id", "VE-nope", "not_found"},
		{"unknown id", otherID(v.ID), "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, f.do("POST", "/v1/verifications/"+tc.id+"/cancel", nil), 404, tc.code)
		})
	}
}

func TestCancelFinished(t *testing.T) {
	cases := []struct {
		name   string
		finish func(t *testing.T, f *fixture, v otp.Verification, code string)
		pcode  string
	}{
		{"approved", func(t *testing.T, f *fixture, v otp.Verification, code string) {
			wantCheck(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": code}))
		}, "approved"},
		{"expired", func(t *testing.T, f *fixture, v otp.Verification, code string) {
			f.Clock.Advance(testPolicy.TTL)
		}, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			v := f.start(t, phone)
			tc.finish(t, f, v, f.liveCode(t, v.ID))
			wantProblem(t, f.do("POST", "/v1/verifications/"+v.ID+"/cancel", nil), 404, tc.pcode)
		})
	}
}
