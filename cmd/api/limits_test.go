package main

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// guarded rebuilds the fixture's router with fraud controls and counters.
func guarded(t *testing.T, f *fixture, policy otp.Policy, cfg redisstore.LimitConfig) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f.Rebuild(t, app.Options{Policy: policy, Secret: []byte(testSecret), CodeLength: codeLength,
		Limits: cfg, Metrics: reg, Log: discardLogger()})
	f.h = newHandler(f.deps(discardLogger(), f.Svc), promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

func TestFailedCheckLockAnswers(t *testing.T) {
	f := newFixture(t)
	p := testPolicy
	p.FailureLock = otp.Window{Count: 2, Period: time.Hour}
	guarded(t, f, p, redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 50, Period: time.Hour}}})
	v := f.start(t, phone)
	for i := 0; i < 2; i++ {
		wantStatus(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": "000000", "clientIp": "203.0.113.1"}), 200)
	}
	for _, path := range []string{"/v1/verifications/check", "/v1/verifications"} {
		body := obj{"to": phone, "code": f.code(t, v.ID)}
		if path == "/v1/verifications" {
			body = obj{"to": phone}
		}
		pr := wantProblem(t, f.do("POST", path, body), http.StatusTooManyRequests, "rate_limited")
		if pr.Limit != "failed_checks" {
			t.Fatalf("%s: %+v", path, pr)
		}
	}
}

func TestClientIPFailedCheckLimit(t *testing.T) {
	f := newFixture(t)
	guarded(t, f, testPolicy, redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 2, Period: time.Hour}}})
	a, b := f.start(t, phone), f.start(t, "+14155550000")
	for _, v := range []otp.Verification{a, b} {
		wantStatus(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": "000000", "clientIp": "2001:db8::1"}), 200)
	}
	// Another address of the same /64 is the same subscriber.
	pr := wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"id": a.ID, "code": f.code(t, a.ID), "clientIp": "2001:db8::ffff"}),
		http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "client_ip" {
		t.Fatalf("%+v", pr)
	}
	// The same user without a clientIp, or from elsewhere, is not refused.
	w := f.do("POST", "/v1/verifications/check", obj{"id": a.ID, "code": f.code(t, a.ID), "clientIp": "203.0.113.1"})
	if wantStatus(t, w, 200); !strings.Contains(w.Body.String(), `"valid":true`) {
		t.Fatalf("%s", w.Body)
	}
}

func TestGeoAnswers(t *testing.T) {
	f := newFixture(t)
	p := testPolicy
	p.AllowedCountries = map[string]bool{"US": true, "GB": true}
	p.RejectNonMobile = true
	guarded(t, f, p, redisstore.LimitConfig{})
	wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": "+4915123456789"}), http.StatusForbidden, "country_not_allowed")
	wantProblem(t, f.do("POST", "/v1/verifications", obj{"to": "+442079460958"}), http.StatusBadRequest, "not_mobile_number")
	wantProblem(t, f.do("POST", "/send-code", obj{"phoneNumber": "+4915123456789"}), http.StatusForbidden, "country_not_allowed")
	wantStatus(t, f.do("POST", "/v1/verifications", obj{"to": "+447400123456"}), http.StatusAccepted)
}

func TestBadClientIP(t *testing.T) {
	f := newFixture(t)
	for _, ip := range []any{"nope", "1.2.3.4.5", 42, "fe80::1%eth0", strings.Repeat("1", 100)} {
		w := f.do("POST", "/v1/verifications", obj{"to": phone, "clientIp": ip})
		wantProblem(t, w, http.StatusBadRequest, "invalid_request")
		w = f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "123456", "clientIp": ip})
		wantProblem(t, w, http.StatusBadRequest, "invalid_request")
	}
}

// The counters operators watch are on /metrics, labelled by calling code,
// never by number or code.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	guarded(t, f, testPolicy, redisstore.LimitConfig{})
	v := f.start(t, phone)
	f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": "000000"})
	code := f.code(t, v.ID)
	f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": code})
	f.do("POST", "/v1/verifications", obj{"to": phone}) // cooldown refusal
	f.start(t, "+447400123456")

	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`otp_sends_total{channel="sms",country_code="1",kind="new",tenant="default"} 1`,
		`otp_sends_total{channel="sms",country_code="44",kind="new",tenant="default"} 1`,
		`otp_approvals_total{channel="sms",country_code="1",tenant="default"} 1`,
		`otp_failed_checks_total{channel="sms",country_code="1",tenant="default"} 1`,
		`otp_rejections_total{country_code="1",limit="cooldown",tenant="default"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, leak := range []string{"4155552671", "7400123456", code} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics contains %q", leak)
		}
	}
}

// The tutorial's routes take clientIp too, so they are no way around the
// per-IP limits.
func TestLegacyRoutesClientIPLimits(t *testing.T) {
	f := newFixture(t)
	one := []redisstore.Rate{{Count: 1, Period: time.Hour}}
	guarded(t, f, testPolicy, redisstore.LimitConfig{ClientIPSends: one, ClientIPChecks: one})
	ip := "203.0.113.44"
	wantStatus(t, f.do("POST", "/send-code", obj{"phoneNumber": phone, "clientIp": ip}), http.StatusAccepted)
	pr := wantLegacyProblem(t, f.do("POST", "/send-code", obj{"phoneNumber": otherPhone, "clientIp": ip}), http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "client_ip" {
		t.Fatalf("%+v", pr)
	}
	wantStatus(t, f.do("POST", "/send-code", obj{"phoneNumber": otherPhone}), http.StatusAccepted)

	wantLegacy(t, f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": "000000", "clientIp": ip}), http.StatusBadRequest, mismatch)
	pr = wantLegacyProblem(t, f.do("POST", "/verify-code", obj{"phoneNumber": otherPhone, "smsCode": "000000", "clientIp": ip}), http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "client_ip" {
		t.Fatalf("%+v", pr)
	}
	wantLegacyProblem(t, f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": "000000", "clientIp": "::1%x"}), http.StatusBadRequest, "invalid_request")
}

// Every limit docs/fraud.md lists, at N and N+1, through the API: N requests
// pass, the next is refused with its code, its limit name and a
// Retry-After. N is 3 (the cooldown's is 1).
func TestEveryLimitAtNAndNPlusOne(t *testing.T) {
	const n = 3
	three := []redisstore.Rate{{Count: n, Period: time.Minute}}
	ip := "203.0.113.50"
	// numbers i of one range, and numbers of different ranges and countries
	ranged := func(i int) string { return fmt.Sprintf("+1415555010%d", i) }
	spread := func(i int) string {
		return []string{"+14155552671", "+447400123456", "+33612345678", "+4915123456789", "+61412345678"}[i]
	}
	send := func(to func(int) string, extra obj) func(*testing.T, *fixture, int) *httptest.ResponseRecorder {
		return func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
			body := obj{"to": to(i)}
			for k, v := range extra {
				body[k] = v
			}
			return f.do("POST", "/v1/verifications", body)
		}
	}
	same := func(int) string { return phone }
	var canceled string // the verification the cancel case cancels again and again
	for _, tc := range []struct {
		name     string
		policy   func(*otp.Policy)
		cfg      redisstore.LimitConfig
		request  func(*testing.T, *fixture, int) *httptest.ResponseRecorder
		code     string // the N+1-th answer's problem code
		limit    string // and its limit member, for rate_limited
		okStatus int
		n        int // 0: n
	}{
		{name: "OTP_RESEND_COOLDOWN", request: send(same, nil), code: "rate_limited", limit: "to", okStatus: 202, n: 1},
		{name: "OTP_MAX_SENDS", policy: func(p *otp.Policy) { p.MaxSends, p.Cooldown = n, 0 },
			request: send(same, nil), code: "max_send_attempts", okStatus: 202},
		{name: "TO_SEND_LIMIT", policy: func(p *otp.Policy) {
			p.SendCap, p.Cooldown, p.MaxSends = otp.Window{Count: n, Period: time.Hour}, 0, 10
		}, request: send(same, nil), code: "rate_limited", limit: "to", okStatus: 202},
		{name: "CLIENT_IP_SEND_LIMITS", cfg: redisstore.LimitConfig{ClientIPSends: three},
			request: send(spread, obj{"clientIp": ip}), code: "rate_limited", limit: "client_ip", okStatus: 202},
		{name: "API_KEY_SEND_LIMITS", cfg: redisstore.LimitConfig{APIKeySends: three},
			request: send(spread, nil), code: "rate_limited", limit: "api_key", okStatus: 202},
		{name: "PREFIX_SEND_LIMITS", cfg: redisstore.LimitConfig{PrefixSends: three},
			request: send(ranged, nil), code: "rate_limited", limit: "prefix", okStatus: 202},
		{name: "SMS_BUDGET_PER_MINUTE", cfg: redisstore.LimitConfig{BudgetPerMinute: n},
			request: send(spread, nil), code: "rate_limited", limit: "global", okStatus: 202},
		{name: "SMS_COUNTRY_BUDGETS", cfg: redisstore.LimitConfig{CountryBudgets: map[string]int{"US": n, "*": 100}},
			request: send(ranged, nil), code: "rate_limited", limit: "country", okStatus: 202},
		{name: "OTP_MAX_CHECKS", policy: func(p *otp.Policy) { p.MaxChecks = n },
			request: func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
				if i == 0 {
					f.start(t, phone)
				}
				return f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "000000"})
			}, code: "max_check_attempts", okStatus: 200},
		{name: "FAILED_CHECK_LIMIT", policy: func(p *otp.Policy) {
			p.FailureLock, p.MaxChecks = otp.Window{Count: n, Period: time.Hour}, 10
		}, request: func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
			if i == 0 {
				f.start(t, phone)
			}
			return f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "000000"})
		}, code: "rate_limited", limit: "failed_checks", okStatus: 200},
		{name: "API_KEY_WRITE_LIMITS, cancel", cfg: redisstore.LimitConfig{APIKeyWrites: three},
			request: func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
				// The same canceled verification over and over, each with a
				// fresh Idempotency-Key: the finding's flood.
				if i == 0 {
					canceled = f.start(t, phone).ID
				}
				return serveKey(f.h, testKeys[0], "POST", "/v1/verifications/"+canceled+"/cancel", "", fmt.Sprintf("k-%d", i))
			}, code: "rate_limited", limit: "api_key_writes", okStatus: 200},
		{name: "API_KEY_WRITE_LIMITS, check", cfg: redisstore.LimitConfig{APIKeyWrites: three},
			request: func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
				if i == 0 {
					f.start(t, phone)
				}
				return f.do("POST", "/v1/verifications/check", obj{"to": phone, "code": "000000"})
			}, code: "rate_limited", limit: "api_key_writes", okStatus: 200},
		{name: "CLIENT_IP_CHECK_LIMITS", cfg: redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: n, Period: time.Hour}}},
			request: func(t *testing.T, f *fixture, i int) *httptest.ResponseRecorder {
				v := f.start(t, spread(i))
				return f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": "000000", "clientIp": ip})
			}, code: "rate_limited", limit: "client_ip", okStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			p := testPolicy
			if tc.policy != nil {
				tc.policy(&p)
			}
			guarded(t, f, p, tc.cfg)
			n := cmp.Or(tc.n, n)
			for i := 0; i < n; i++ {
				wantStatus(t, tc.request(t, f, i), tc.okStatus)
			}
			pr := wantProblem(t, tc.request(t, f, n), http.StatusTooManyRequests, tc.code)
			if pr.Limit != tc.limit || pr.RetryAfter < 1 {
				t.Fatalf("request %d: %+v", n+1, pr)
			}
		})
	}
}

// 30 simultaneous wrong codes from one end user under 3/1h: the budget is
// taken before each check, so at most 3 are evaluated and the rest are 429.
func TestParallelWrongChecksFromOneIP(t *testing.T) {
	f := newFixture(t)
	p := testPolicy
	p.MaxChecks = 10
	guarded(t, f, p, redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 3, Period: time.Hour}}})
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, f.start(t, fmt.Sprintf("+1415555020%d", i)).ID)
	}
	var wg sync.WaitGroup
	codes := make([]int, 30)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = f.do("POST", "/v1/verifications/check", obj{"id": ids[i%len(ids)], "code": "000000", "clientIp": "203.0.113.77"}).Code
		}()
	}
	wg.Wait()
	evaluated := 0
	for _, id := range ids {
		evaluated += wantVerification(t, f.do("GET", "/v1/verifications/"+id, nil), 200).CheckAttempts
	}
	answered := map[int]int{}
	for _, c := range codes {
		answered[c]++
	}
	if evaluated > 3 || answered[200] != evaluated || answered[429] != 30-evaluated {
		t.Fatalf("%d checks evaluated; answers %v", evaluated, answered)
	}
	// A right code costs nothing: it is refunded.
	f2 := newFixture(t)
	guarded(t, f2, p, redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 1, Period: time.Hour}}})
	for i := 0; i < 3; i++ {
		v := f2.start(t, fmt.Sprintf("+1415555030%d", i))
		w := f2.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": f2.code(t, v.ID), "clientIp": "203.0.113.78"})
		if wantStatus(t, w, 200); !strings.Contains(w.Body.String(), `"valid":true`) {
			t.Fatalf("right code %d: %s", i, w.Body)
		}
	}
}

// Every check that does not approve costs the end user's budget alike,
// unknown numbers included: neither the budget nor an extra refund round
// trip tells whether a number has a verification.
func TestClientIPCheckBudgetIsBlindToExistence(t *testing.T) {
	f := newFixture(t)
	guarded(t, f, testPolicy, redisstore.LimitConfig{ClientIPChecks: []redisstore.Rate{{Count: 2, Period: time.Hour}}})
	ip := "203.0.113.60"
	wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"to": "+14155550111", "code": "000000", "clientIp": ip}), http.StatusNotFound, "not_found")
	wantLegacy(t, f.do("POST", "/verify-code", obj{"phoneNumber": "+14155550112", "smsCode": "000000", "clientIp": ip}), http.StatusBadRequest, mismatch)
	v := f.start(t, phone)
	pr := wantProblem(t, f.do("POST", "/v1/verifications/check", obj{"id": v.ID, "code": f.code(t, v.ID), "clientIp": ip}), http.StatusTooManyRequests, "rate_limited")
	if pr.Limit != "client_ip" {
		t.Fatalf("%+v", pr)
	}
}

// API_KEY_WRITE_LIMITS covers every write route that no send limit counts,
// per API key, before its body is read; reads and starts are not counted.
// A check's is taken with its failed checks' budget, in one round trip,
// once its body is read and before the check runs: a body that does not
// parse costs Redis nothing.
func TestWriteLimitCoversEveryWriteRoute(t *testing.T) {
	f := newFixture(t)
	guarded(t, f, testPolicy, redisstore.LimitConfig{APIKeyWrites: []redisstore.Rate{{Count: 1, Period: time.Minute}}})
	v := f.start(t, phone)
	for _, r := range []struct {
		method, path string
		body         any
		legacy       bool
		check        bool
	}{
		{"POST", "/v1/verifications/" + v.ID + "/cancel", nil, false, false},
		{"POST", "/v1/verifications/check", obj{"id": v.ID, "code": "000000"}, false, true},
		{"DELETE", "/v1/fraud/blocks/US", nil, false, false},
		{"PUT", "/v1/fraud/safe-list/%2B4420", nil, false, false},
		{"DELETE", "/v1/fraud/safe-list/%2B4420", nil, false, false},
		{"POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": "000000"}, true, true},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			f.Clock.Advance(2 * time.Minute) // a fresh window
			if w := f.do(r.method, r.path, r.body); w.Code == http.StatusTooManyRequests {
				t.Fatalf("first write: %d %s", w.Code, w.Body)
			}
			var second any = `{"not": "read"` // refused before the body is read
			if r.check {
				second = r.body // refused before the check runs
			}
			w := f.do(r.method, r.path, second)
			want := wantProblem
			if r.legacy {
				want = wantLegacyProblem
			}
			if p := want(t, w, http.StatusTooManyRequests, "rate_limited"); p.Limit != "api_key_writes" || p.RetryAfter < 1 ||
				w.Header().Get("Retry-After") == "" {
				t.Fatalf("second write: %s %v", w.Body, w.Header())
			}
			// Another API key has its own limit.
			if w := serveAuth(f.h, r.method, r.path, r.body, "Bearer "+testKeys[1]); w.Code == http.StatusTooManyRequests {
				t.Fatalf("another key: %d %s", w.Code, w.Body)
			}
		})
	}
	// Reads and starts count against no write limit.
	f.Clock.Advance(testPolicy.Cooldown)
	wantStatus(t, f.do("GET", "/v1/verifications/"+v.ID, nil), http.StatusOK)
	wantStatus(t, f.do("GET", "/v1/fraud/safe-list", nil), http.StatusOK)
	wantStatus(t, f.do("POST", "/v1/verifications", obj{"to": otherPhone}), http.StatusAccepted)
}
