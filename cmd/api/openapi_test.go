package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpd/otpd/api"
	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/idempotency"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// These tests hold api/openapi.yaml and the router to each other:
//
//   - TestOpenAPIRoutes: every route of the router is an operation of the
//     document and the other way round, and every other method on a
//     documented path is a 405 as the document says.
//   - TestOpenAPIConformance: a scenario through the real router (real
//     service, store, queue and a throw-away Redis) that produces every
//     kind of answer; each request and each response is validated against
//     the document with kin-openapi. Requests that break the document on
//     purpose are marked, so a document that is too loose fails too.
//   - TestOpenAPIGoTypes and TestOpenAPIProblemCodes: the schemas' members
//     are the Go types' JSON members, and the enums are the Go constants
//     and the problem codes the code can produce.

// loadSpec parses and validates the embedded document.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// specCheck validates exchanges with the router against the document.
type specCheck struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
	// validated counts the responses validated; seen counts them per
	// "METHOD /path status media-type code".
	validated int
	seen      map[string]int
}

func newSpecCheck(t testing.TB) *specCheck {
	t.Helper()
	doc := loadSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specCheck{
		doc: doc, router: router, seen: map[string]int{},
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true, // an undocumented status is a failure
			MultiError:            true,
			AuthenticationFunc:    bearerAuth,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidator("ipv4", openapi3.NewIPValidator(true)),
				openapi3.WithStringFormatValidator("ipv6", openapi3.NewIPValidator(false)),
			},
		},
	}
}

// bearerAuth accepts what the document promises to look at: a bearer
// token. Whether the key is right is the server's business (a wrong key is
// a well-formed request that gets a 401).
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearer" {
		return fmt.Errorf("unexpected security scheme %q", in.SecuritySchemeName)
	}
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// validate checks one exchange. req must carry the request body again
// (the handler consumed the first copy). badRequest says the request breaks
// the document on purpose: then request validation must fail.
func (sc *specCheck) validate(t testing.TB, name string, req *http.Request, w *httptest.ResponseRecorder, badRequest bool) {
	t.Helper()
	ctx := context.Background()
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		// No operation: the document's words for that are NoRoute and
		// MethodNotAllowed.
		var resp string
		switch {
		case errors.Is(err, routers.ErrPathNotFound):
			resp = "NoRoute"
		case errors.Is(err, routers.ErrMethodNotAllowed):
			resp = "MethodNotAllowed"
		default:
			t.Fatalf("%s: find route: %v", name, err)
		}
		sc.validateBare(t, name, req, w, resp)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: sc.opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case badRequest && reqErr == nil:
		t.Errorf("%s: the request should break the document but passes it: the document is too loose", name)
	case !badRequest && reqErr != nil:
		t.Errorf("%s: the request breaks the document: %v", name, reqErr)
	}
	if req.Method == http.MethodHead {
		t.Fatalf("%s: kin-openapi does not validate HEAD responses", name)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: w.Code, Header: w.Header(), Options: sc.opts,
	}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: %s %s answered %d %s, which the document does not allow: %v",
			name, req.Method, route.Path, w.Code, w.Body, err)
	}
	if r := route.Operation.Responses.Status(w.Code); r != nil && r.Value.Content == nil && w.Body.Len() > 0 {
		t.Errorf("%s: %d has no content in the document, but the body is %q", name, w.Code, w.Body)
	}
	sc.count(req.Method+" "+route.Path, w)
}

// validateBare validates an answer to a request that matches no operation
// against components.responses[resp].
func (sc *specCheck) validateBare(t testing.TB, name string, req *http.Request, w *httptest.ResponseRecorder, resp string) {
	t.Helper()
	ref := sc.doc.Components.Responses[resp]
	if ref == nil {
		t.Fatalf("components.responses.%s is missing", resp)
	}
	wantStatus := map[string]int{"NoRoute": http.StatusNotFound, "MethodNotAllowed": http.StatusMethodNotAllowed}[resp]
	if w.Code != wantStatus {
		t.Errorf("%s: %s %s matches no operation (%s) but answered %d %s", name, req.Method, req.URL.Path, resp, w.Code, w.Body)
		return
	}
	if req.Method == http.MethodHead {
		// kin-openapi skips HEAD; check the headers here.
		for h, hr := range ref.Value.Headers {
			if hr.Value.Required && w.Header().Get(h) == "" {
				t.Errorf("%s: HEAD answer lacks %s", name, h)
			}
		}
		sc.count(req.Method+" (unmatched)", w)
		return
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(wantStatus, ref))
	route := &routers.Route{Spec: sc.doc, Path: req.URL.Path, Method: req.Method, Operation: op}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: sc.opts},
		Status:                 w.Code, Header: w.Header(), Options: sc.opts,
	}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s: %s %s: the answer does not match components.responses.%s: %v", name, req.Method, req.URL.Path, resp, err)
	}
	sc.count(req.Method+" (unmatched)", w)
}

func (sc *specCheck) count(op string, w *httptest.ResponseRecorder) {
	key := fmt.Sprintf("%s %d %s", op, w.Code, w.Header().Get("Content-Type"))
	var p struct{ Code string }
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") && json.Unmarshal(w.Body.Bytes(), &p) == nil {
		key += " " + p.Code
	}
	sc.seen[key]++
	sc.validated++
}

// call is one request and the answer it must get.
type call struct {
	name         string
	h            http.Handler // nil: the fixture's router
	method, path string
	body         any // as serve: a string or []byte is sent as is, anything else as JSON
	header       map[string]string
	auth         string // "" sends the first API key; "-" sends no Authorization
	status       int
	code         string // the problem code; "" when the answer is not a problem
	badRequest   bool   // the request breaks the document on purpose
}

// conformance runs calls through the router and the document.
type conformance struct {
	t  *testing.T
	f  *fixture
	sc *specCheck
}

func (c *conformance) do(x call) *httptest.ResponseRecorder {
	c.t.Helper()
	var raw []byte
	switch b := x.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		raw = j
	}
	build := func() *http.Request {
		var r io.Reader
		if x.body != nil {
			r = bytes.NewReader(raw)
		}
		req := httptest.NewRequest(x.method, x.path, r)
		if x.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		switch x.auth {
		case "":
			req.Header.Set("Authorization", "Bearer "+testKeys[0])
		case "-":
		default:
			req.Header.Set("Authorization", x.auth)
		}
		for k, v := range x.header {
			req.Header.Set(k, v)
		}
		return req
	}
	h := x.h
	if h == nil {
		h = c.f.h
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, build())
	name := x.name
	if name == "" {
		name = x.method + " " + x.path
	}
	if x.code != "" {
		wantProblem(c.t, w, x.status, x.code)
	} else if w.Code != x.status {
		c.t.Fatalf("%s: status %d, want %d; body %s", name, w.Code, x.status, w.Body)
	}
	c.sc.validate(c.t, name, build(), w, x.badRequest)
	return w
}

// verification decodes a verification or check answer.
func (c *conformance) verification(w *httptest.ResponseRecorder) checkAnswer {
	c.t.Helper()
	var a checkAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		c.t.Fatalf("decode %s: %v", w.Body, err)
	}
	return a
}

// handlerWith is the router over the fixture's Redis with another policy,
// guard, Redis or webhook configuration. It flushes nothing.
func (c *conformance) handlerWith(policy otp.Policy, limits redisstore.LimitConfig, hooks webhookConfig) http.Handler {
	return c.f.routes(c.t, app.Options{Policy: policy, Limits: limits}, hooks, nil)
}

func withGuardOn(p otp.Policy) otp.Policy { p.Fraud = otp.FraudOn; return p }

// fraudScenario drives the fraud guard's answers: with FRAUD_MIN_SENDS 2,
// a range blocked by two verifications nobody entered.
func (c *conformance) fraudScenario() {
	c.t.Helper()
	const (
		premium   = "+19002345678" // US premium rate
		tollFree  = "+18002345678"
		blockedA  = "+14155557001"
		blockedB  = "+14155557002"
		inBlocked = "+14155557003"
		safe      = "+14155557004"
	)
	p := testPolicy
	p.Fraud, p.SafeList = otp.FraudOn, otp.SafeList{safe}
	p.BlockedNumberTypes = map[otp.NumberType]bool{"premium_rate": true, "toll_free": true}
	guard := redisstore.GuardConfig{Window: time.Hour, Grace: time.Minute, MinSends: 2, CountryMinSends: 1000,
		MinConversion: 0.5, BlockTTL: time.Hour}
	h := c.f.routes(c.t, app.Options{Policy: p, Guard: &guard}, testHooks, nil)
	do := func(name, method, path string, body any, status int, code string) *httptest.ResponseRecorder {
		return c.do(call{name: name, h: h, method: method, path: path, body: body, status: status, code: code})
	}
	do("start, premium rate", "POST", "/v1/verifications", obj{"to": premium}, 403, "number_type_blocked")
	do("send-code, toll free", "POST", "/send-code", obj{"phoneNumber": tollFree}, 403, "number_type_blocked")
	do("start in a range", "POST", "/v1/verifications", obj{"to": blockedA}, 202, "")
	do("start in a range, again", "POST", "/v1/verifications", obj{"to": blockedB}, 202, "")
	c.f.Clock.Advance(guard.Grace + 2*time.Minute)
	w := do("start, range blocked", "POST", "/v1/verifications", obj{"to": inBlocked}, 403, "fraud_blocked")
	if got := w.Header().Get("Retry-After"); got != "3600" {
		c.t.Fatalf("fraud_blocked: Retry-After %q, want the block's 3600", got)
	}
	do("send-code, range blocked", "POST", "/send-code", obj{"phoneNumber": inBlocked}, 403, "fraud_blocked")
	do("start, safe-listed in a blocked range", "POST", "/v1/verifications", obj{"to": safe}, 202, "")
	w = do("list blocks", "GET", "/v1/fraud/blocks", nil, 200, "")
	var listed struct{ Blocks []otp.FraudBlock }
	if err := json.Unmarshal(w.Body.Bytes(), &listed); err != nil || len(listed.Blocks) != 1 || listed.Blocks[0].Prefix != "+14155557" {
		c.t.Fatalf("blocks: %s", w.Body)
	}
	do("lift a block", "DELETE", "/v1/fraud/blocks/%2B14155557", nil, 200, "")
	do("lift it again", "DELETE", "/v1/fraud/blocks/+14155557", nil, 404, "not_found")
	do("lift a country", "DELETE", "/v1/fraud/blocks/us", nil, 404, "not_found")
	do("lift a malformed name", "DELETE", "/v1/fraud/blocks/nope", nil, 400, "invalid_request")
	do("start after the lift", "POST", "/v1/verifications", obj{"to": inBlocked}, 202, "")

	do("add to the safe list", "PUT", "/v1/fraud/safe-list/%2B4420", nil, 200, "")
	do("add it again", "PUT", "/v1/fraud/safe-list/+4420", nil, 200, "")
	do("add a malformed entry", "PUT", "/v1/fraud/safe-list/4420", nil, 400, "invalid_request")
	w = do("list the safe list", "GET", "/v1/fraud/safe-list", nil, 200, "")
	if !strings.Contains(w.Body.String(), `{"entry":"+4420","source":"api"}`) || !strings.Contains(w.Body.String(), `"source":"config"`) {
		c.t.Fatalf("safe list: %s", w.Body)
	}
	do("remove from the safe list", "DELETE", "/v1/fraud/safe-list/%2B4420", nil, 204, "")
	do("remove a FRAUD_SAFE_LIST entry", "DELETE", "/v1/fraud/safe-list/"+url.PathEscape(safe), nil, 409, "safe_list_fixed")
	do("remove a malformed entry", "DELETE", "/v1/fraud/safe-list/%2B", nil, 400, "invalid_request")
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/fraud/blocks"}, {"DELETE", "/v1/fraud/blocks/US"}, {"GET", "/v1/fraud/safe-list"},
		{"PUT", "/v1/fraud/safe-list/%2B44"}, {"DELETE", "/v1/fraud/safe-list/%2B44"},
	} {
		c.do(call{name: "no key, fraud", h: h, method: r.method, path: r.path, auth: "-", status: 401, code: "unauthorized", badRequest: true})
	}
}

// signedCallback posts a Twilio status callback for attempt a of id,
// signed like Twilio does unless sign is false.
// telegramScenario sends the Telegram report route a good report, a forged
// one, a signed one that is not a report, an oversized one, and one to an
// api without the token.
func (c *conformance) telegramScenario() {
	c.t.Helper()
	p := testPolicy
	p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelTelegram: true}
	hooks := testHooks
	hooks.TelegramToken = tgToken
	h := c.f.routes(c.t, app.Options{Policy: p}, hooks, nil)
	w := c.do(call{name: "start on telegram", h: h, method: "POST", path: "/v1/verifications",
		body: obj{"to": "+14155552699", "channel": "telegram"}, status: 202})
	v := c.verification(w)
	if _, err := c.f.Store.Record(context.Background(), v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending, MessageSID: "req42"}); err != nil {
		c.t.Fatal(err)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	report := func(name string, h http.Handler, body []byte, sig string, status int, code string, bad bool) {
		c.do(call{name: name, h: h, method: "POST", path: api.TelegramCallbackPath, body: body, auth: "-", status: status, code: code,
			badRequest: bad, header: map[string]string{"Content-Type": "application/json", "X-Request-Timestamp": now, "X-Request-Signature": sig}})
	}
	good := telegramReport("req42", v.ID, "delivered")
	report("telegram report", h, good, telegramfake.Sign(tgToken, now, good), 200, "", false)
	report("forged telegram report", h, good, telegramfake.Sign("forged", now, good), 403, "invalid_signature", false)
	bad := []byte(`[]`)
	report("telegram report that is not one", h, bad, telegramfake.Sign(tgToken, now, bad), 400, "invalid_request", true)
	big := append(bytes.Repeat([]byte(" "), 20<<10), good...)
	report("telegram report too large", h, big, telegramfake.Sign(tgToken, now, big), 413, "request_too_large", false)
	report("telegram reports not configured", c.handlerWith(p, redisstore.LimitConfig{}, testHooks), good,
		telegramfake.Sign(tgToken, now, good), 403, "forbidden", false)
}

func (c *conformance) signedCallback(name string, h http.Handler, query url.Values, form url.Values, sign bool, status int, code string, badRequest bool) {
	c.t.Helper()
	target := api.StatusCallbackPath
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	header := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if sign {
		header["X-Twilio-Signature"] = twiliofake.Sign(testHooks.AuthToken, testHooks.PublicURL+target, form)
	}
	c.do(call{name: name, h: h, method: "POST", path: target, body: form.Encode(), header: header, auth: "-",
		status: status, code: code, badRequest: badRequest})
}

func TestOpenAPIConformance(t *testing.T) {
	f := newFixture(t)
	c := &conformance{t: t, f: f, sc: newSpecCheck(t)}
	ctx := context.Background()
	const (
		pCancel = "+14155550142"
		pLock   = "+14155550143"
		pExpire = "+14155550144"
		pLegacy = "+14155550145"
		pIP     = "+14155550146"
		pHook   = "+14155550147"
		pBroken = "+14155550148"
		pNone   = "+14155550149" // never gets a verification
		pIP2    = "+14155550150"
		pGB     = "+447400123456" // GB (+44 7911 … would be Guernsey)
		landGB  = "+442079460958" // a London landline
	)

	// Operations routes.
	c.do(call{name: "healthz", method: "GET", path: "/healthz", auth: "-", status: 200})
	c.do(call{name: "readyz", method: "GET", path: "/readyz", auth: "-", status: 200})
	w := c.do(call{name: "openapi.yaml", method: "GET", path: "/openapi.yaml", auth: "-", status: 200})
	if !bytes.Equal(w.Body.Bytes(), api.Spec) || w.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: Content-Type %q, %d bytes; want application/yaml and the embedded document", w.Header().Get("Content-Type"), w.Body.Len())
	}
	onDisk, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil || !bytes.Equal(onDisk, w.Body.Bytes()) {
		t.Fatalf("GET /openapi.yaml is not api/openapi.yaml (%v)", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	withMetrics := newHandler(f.deps(testLogger(t), f.Svc), promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	c.do(call{name: "metrics", h: withMetrics, method: "GET", path: "/metrics", auth: "-", status: 200})

	// Requests that match no route.
	c.do(call{name: "unknown path", method: "GET", path: "/v2/verifications", auth: "-", status: 404, code: "not_found"})
	c.do(call{name: "trailing slash", method: "GET", path: "/healthz/", auth: "-", status: 404, code: "not_found"})
	c.do(call{name: "wrong method", method: "DELETE", path: "/v1/verifications", auth: "-", status: 405, code: "method_not_allowed"})

	// Authentication.
	c.do(call{name: "no key", method: "POST", path: "/v1/verifications", body: obj{"to": phone}, auth: "-", status: 401, code: "unauthorized", badRequest: true})
	c.do(call{name: "wrong key", method: "POST", path: "/v1/verifications", body: obj{"to": phone}, auth: "Bearer not-a-key", status: 401, code: "unauthorized"})
	c.do(call{name: "basic auth", method: "POST", path: "/v1/verifications/check", body: obj{"to": phone, "code": "123456"}, auth: "Basic dXNlcjpwYXNz", status: 401, code: "unauthorized", badRequest: true})
	c.do(call{name: "no key, GET", method: "GET", path: "/v1/verifications/VE00000000000000000000000000000000", auth: "-", status: 401, code: "unauthorized", badRequest: true})
	c.do(call{name: "no key, cancel", method: "POST", path: "/v1/verifications/VE00000000000000000000000000000000/cancel", auth: "-", status: 401, code: "unauthorized", badRequest: true})
	c.do(call{name: "no key, send-code", method: "POST", path: "/send-code", body: obj{"phoneNumber": phone}, auth: "-", status: 401, code: "unauthorized", badRequest: true})
	c.do(call{name: "wrong key, verify-code", method: "POST", path: "/verify-code", body: obj{"phoneNumber": phone, "smsCode": "123456"}, auth: "Bearer x", status: 401, code: "unauthorized"})

	// Start, resend, cooldown, max sends.
	w = c.do(call{name: "start", method: "POST", path: "/v1/verifications", body: obj{"to": phone, "channel": "sms"},
		header: map[string]string{"X-Request-ID": "req-42.a_b"}, status: 202})
	if got := w.Header().Get("X-Request-ID"); got != "req-42.a_b" {
		t.Fatalf("X-Request-ID = %q, want the request's own", got)
	}
	v1 := c.verification(w)
	code1 := f.liveCode(t, v1.ID)
	w = c.do(call{name: "start within the cooldown", method: "POST", path: "/v1/verifications", body: obj{"to": phone},
		header: map[string]string{"X-Request-ID": "not valid!"}, status: 429, code: "rate_limited", badRequest: true})
	if got := w.Header().Get("X-Request-ID"); got == "not valid!" || got == "" {
		t.Fatalf("an invalid X-Request-ID came back: %q", got)
	}
	c.do(call{name: "wrong code by id", method: "POST", path: "/v1/verifications/check", body: obj{"id": v1.ID, "code": wrong(code1)}, status: 200})
	c.do(call{name: "get", method: "GET", path: "/v1/verifications/" + v1.ID, status: 200})
	for i := 2; i <= testPolicy.MaxSends; i++ {
		f.Clock.Advance(testPolicy.Cooldown + time.Second)
		w = c.do(call{name: "resend", method: "POST", path: "/v1/verifications", body: obj{"to": phoneNational}, status: 202})
		if a := c.verification(w); a.ID != v1.ID || a.SendAttempts != i {
			t.Fatalf("resend %d: %+v", i, a.Verification)
		}
	}
	f.Clock.Advance(testPolicy.Cooldown + time.Second)
	c.do(call{name: "max sends", method: "POST", path: "/v1/verifications", body: obj{"to": phone}, status: 429, code: "max_send_attempts"})

	// Idempotency-Key: a replay, a reuse, a request still running, a bad key.
	{
		const pIdem, pIdem2 = "+14155550151", "+14155550152"
		key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
		w = c.do(call{name: "start with a key", method: "POST", path: "/v1/verifications", body: obj{"to": pIdem}, header: key(`"s-1"`), status: 202})
		idem := c.verification(w)
		w = c.do(call{name: "start replayed", method: "POST", path: "/v1/verifications", body: obj{"to": pIdem}, header: key(`"s-1"`), status: 202})
		if w.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatal("a replay without Idempotent-Replayed")
		}
		c.do(call{name: "key reused", method: "POST", path: "/v1/verifications", body: obj{"to": pIdem2}, header: key(`"s-1"`), status: 422, code: "idempotency_key_reused"})
		c.do(call{name: "bad key", method: "POST", path: "/v1/verifications", body: obj{"to": pIdem2}, header: key(`"s-2`), status: 400, code: "invalid_idempotency_key"})
		sum := sha256.Sum256([]byte(testKeys[0]))
		claim := func(k, path string, body []byte) {
			if _, st, _, err := f.Idempotency.Claim(ctx,
				hex.EncodeToString(sum[:6]), k, idempotency.RequestFingerprint("POST", path, body)); err != nil || st != idempotency.New {
				t.Fatal(st, err)
			}
		}
		claim("s-3", "/v1/verifications", []byte(`{"to":"`+pIdem2+`"}`))
		c.do(call{name: "start still running", method: "POST", path: "/v1/verifications", body: obj{"to": pIdem2}, header: key("s-3"), status: 409, code: "idempotency_in_progress"})
		cancelPath := "/v1/verifications/" + idem.ID + "/cancel"
		c.do(call{name: "cancel with a key", method: "POST", path: cancelPath, header: key("c-1"), status: 200})
		c.do(call{name: "cancel replayed", method: "POST", path: cancelPath, header: key("c-1"), status: 200})
		c.do(call{name: "cancel, key reused", method: "POST", path: cancelPath, header: key("s-1"), status: 422, code: "idempotency_key_reused"})
		c.do(call{name: "cancel, bad key", method: "POST", path: cancelPath, header: key("c 2"), status: 400, code: "invalid_idempotency_key"})
		claim("c-3", cancelPath, nil)
		c.do(call{name: "cancel still running", method: "POST", path: cancelPath, header: key("c-3"), status: 409, code: "idempotency_in_progress"})
	}

	// Check: right, then finished.
	w = c.do(call{name: "right code by number", method: "POST", path: "/v1/verifications/check", body: obj{"to": phone, "code": code1, "clientIp": "2001:db8::1"}, status: 200})
	if a := c.verification(w); !a.Valid || a.Status != otp.StatusApproved {
		t.Fatalf("right code: %s", w.Body)
	}
	c.do(call{name: "check approved", method: "POST", path: "/v1/verifications/check", body: obj{"id": v1.ID, "code": code1}, status: 404, code: "approved"})
	c.do(call{name: "cancel approved", method: "POST", path: "/v1/verifications/" + v1.ID + "/cancel", status: 404, code: "approved"})
	c.do(call{name: "check unknown id", method: "POST", path: "/v1/verifications/check", body: obj{"id": otherID(v1.ID), "code": "123456"}, status: 404, code: "not_found"})
	c.do(call{name: "check malformed id", method: "POST", path: "/v1/verifications/check", body: obj{"id": "VEnope", "code": "123456"}, status: 404, code: "not_found", badRequest: true})
	c.do(call{name: "check number without verification", method: "POST", path: "/v1/verifications/check", body: obj{"to": pNone, "code": "123456"}, status: 404, code: "not_found"})
	c.do(call{name: "get unknown", method: "GET", path: "/v1/verifications/" + otherID(v1.ID), status: 404, code: "not_found"})
	c.do(call{name: "get malformed id", method: "GET", path: "/v1/verifications/nope", status: 404, code: "not_found", badRequest: true})
	c.do(call{name: "cancel unknown", method: "POST", path: "/v1/verifications/" + otherID(v1.ID) + "/cancel", status: 404, code: "not_found"})

	// Invalid starts.
	for _, x := range []struct {
		name string
		body any
		code string
		bad  bool
	}{
		{"empty object", obj{}, "invalid_request", true},
		{"empty to", obj{"to": ""}, "invalid_request", true},
		{"to not a string", obj{"to": 14155552671}, "invalid_request", true},
		{"unknown member", obj{"to": pNone, "from": "x"}, "invalid_request", true},
		{"other channel", obj{"to": pNone, "channel": "voice"}, "channel_unavailable", true},
		{"bad clientIp", obj{"to": pNone, "clientIp": "203.0.113"}, "invalid_request", true},
		{"clientIp with a zone", obj{"to": pNone, "clientIp": "fe80::1%eth0"}, "invalid_request", true},
		{"malformed JSON", `{"to":`, "invalid_request", true},
		{"an array", `[{"to": "+14155552671"}]`, "invalid_request", true},
		{"null", `null`, "invalid_request", true},
		// Not one JSON document, but kin-openapi reads only the first value.
		{"trailing data", `{"to": "+14155550149"} {}`, "invalid_request", false},
		{"empty body", ``, "invalid_request", true},
		{"not a number", obj{"to": "not a number"}, "invalid_phone_number", false},
		{"too short", obj{"to": "+1415"}, "invalid_phone_number", false},
	} {
		c.do(call{name: "start: " + x.name, method: "POST", path: "/v1/verifications", body: x.body, status: 400, code: x.code, badRequest: x.bad})
	}
	// Invalid checks.
	for _, x := range []struct {
		name string
		body any
		code string
		bad  bool
	}{
		{"neither id nor to", obj{"code": "123456"}, "invalid_request", true},
		{"both id and to", obj{"id": v1.ID, "to": phone, "code": "123456"}, "invalid_request", true},
		{"short code", obj{"to": pNone, "code": "12"}, "invalid_request", true},
		{"code with letters", obj{"to": pNone, "code": "12345a"}, "invalid_request", true},
		{"code as a number", obj{"to": pNone, "code": 123456}, "invalid_request", true},
		{"bad clientIp", obj{"to": pNone, "code": "123456", "clientIp": "x"}, "invalid_request", true},
		{"unknown member", obj{"to": pNone, "code": "123456", "sid": "x"}, "invalid_request", true},
		{"not a number", obj{"to": "not a number", "code": "123456"}, "invalid_phone_number", false},
	} {
		c.do(call{name: "check: " + x.name, method: "POST", path: "/v1/verifications/check", body: x.body, status: 400, code: x.code, badRequest: x.bad})
	}
	// Bodies over 16 KiB.
	big := obj{"to": strings.Repeat("1", maxBody)}
	for _, p := range []string{"/v1/verifications", "/v1/verifications/check", "/send-code", "/verify-code"} {
		c.do(call{name: "too large", method: "POST", path: p, body: big, status: 413, code: "request_too_large", badRequest: true})
	}

	// Cancel.
	v2 := c.verification(c.do(call{name: "start to cancel", method: "POST", path: "/v1/verifications", body: obj{"to": pCancel}, status: 202}))
	code2 := f.liveCode(t, v2.ID)
	c.do(call{name: "cancel", method: "POST", path: "/v1/verifications/" + v2.ID + "/cancel", status: 200})
	c.do(call{name: "cancel again", method: "POST", path: "/v1/verifications/" + v2.ID + "/cancel", body: `ignored`, status: 200})
	c.do(call{name: "check canceled", method: "POST", path: "/v1/verifications/check", body: obj{"to": pCancel, "code": code2}, status: 404, code: "canceled"})
	c.do(call{name: "get canceled", method: "GET", path: "/v1/verifications/" + v2.ID, status: 200})

	// Locked by wrong codes.
	v3 := c.verification(c.do(call{name: "start to lock", method: "POST", path: "/v1/verifications", body: obj{"to": pLock}, status: 202}))
	code3 := f.liveCode(t, v3.ID)
	for i := 1; i <= testPolicy.MaxChecks; i++ {
		w = c.do(call{name: "wrong code", method: "POST", path: "/v1/verifications/check", body: obj{"to": pLock, "code": wrong(code3), "clientIp": "198.51.100.7"}, status: 200})
	}
	if a := c.verification(w); a.Valid || a.Status != otp.StatusMaxAttempts {
		t.Fatalf("last wrong code: %s", w.Body)
	}
	c.do(call{name: "check locked", method: "POST", path: "/v1/verifications/check", body: obj{"id": v3.ID, "code": code3}, status: 429, code: "max_check_attempts"})
	c.do(call{name: "cancel locked", method: "POST", path: "/v1/verifications/" + v3.ID + "/cancel", status: 429, code: "max_check_attempts"})
	c.do(call{name: "verify-code locked", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pLock, "smsCode": code3}, status: 429, code: "max_check_attempts"})
	f.Clock.Advance(testPolicy.Cooldown + time.Second)
	c.do(call{name: "start locked", method: "POST", path: "/v1/verifications", body: obj{"to": pLock}, status: 429, code: "max_check_attempts"})
	c.do(call{name: "send-code locked", method: "POST", path: "/send-code", body: obj{"phoneNumber": pLock}, status: 429, code: "max_check_attempts"})

	// A delivery failure shows its reason and Twilio's error code.
	v4 := c.verification(c.do(call{name: "start to expire", method: "POST", path: "/v1/verifications", body: obj{"to": pExpire, "clientIp": "203.0.113.9"}, status: 202}))
	if _, err := f.Store.Record(ctx, v4.ID, 1, otp.AttemptUpdate{Status: otp.DeliveryFailed, ErrorCode: 21211, Reason: "twilio_error"}); err != nil {
		t.Fatal(err)
	}
	w = c.do(call{name: "get failed delivery", method: "GET", path: "/v1/verifications/" + v4.ID, status: 200})
	if a := c.verification(w); a.Delivery.Reason != "twilio_error" || a.Attempts[0].ErrorCode != 21211 {
		t.Fatalf("delivery: %s", w.Body)
	}

	// The tutorial routes.
	w = c.do(call{name: "send-code", method: "POST", path: "/send-code", body: obj{"phoneNumber": pLegacy}, status: 202})
	var sent struct{ VerificationID string }
	if err := json.Unmarshal(w.Body.Bytes(), &sent); err != nil || w.Header().Get("Location") != "/v1/verifications/"+sent.VerificationID {
		t.Fatalf("send-code: %s, Location %q", w.Body, w.Header().Get("Location"))
	}
	code5 := f.liveCode(t, sent.VerificationID)
	c.do(call{name: "send-code within the cooldown", method: "POST", path: "/send-code", body: obj{"phoneNumber": pLegacy}, status: 429, code: "rate_limited"})
	c.do(call{name: "verify-code wrong code", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pLegacy, "smsCode": wrong(code5)}, status: 400})
	n, _ := strconv.Atoi(code5)
	c.do(call{name: "verify-code right code as a number", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pLegacy, "smsCode": n}, status: 200})
	c.do(call{name: "verify-code approved", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pLegacy, "smsCode": " " + code5 + " "}, status: 400})
	c.do(call{name: "verify-code unknown number", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pNone, "smsCode": "123456"}, status: 400})
	for _, x := range []struct {
		name, path string
		body       any
		code       string
		bad        bool
	}{
		{"send-code: empty object", "/send-code", obj{}, "invalid_request", true},
		{"send-code: unknown member", "/send-code", obj{"phoneNumber": pNone, "to": pNone}, "invalid_request", true},
		{"send-code: malformed JSON", "/send-code", `{`, "invalid_request", true},
		{"send-code: not a number", "/send-code", obj{"phoneNumber": "not a number"}, "invalid_phone_number", false},
		{"verify-code: no phoneNumber", "/verify-code", obj{"smsCode": "123456"}, "invalid_request", true},
		{"verify-code: no smsCode", "/verify-code", obj{"phoneNumber": pNone}, "invalid_request", true},
		{"verify-code: smsCode null", "/verify-code", obj{"phoneNumber": pNone, "smsCode": nil}, "invalid_request", true},
		{"verify-code: smsCode true", "/verify-code", obj{"phoneNumber": pNone, "smsCode": true}, "invalid_request", true},
		{"verify-code: negative smsCode", "/verify-code", obj{"phoneNumber": pNone, "smsCode": -5}, "invalid_request", true},
		{"verify-code: fractional smsCode", "/verify-code", obj{"phoneNumber": pNone, "smsCode": 1234.5}, "invalid_request", true},
		{"verify-code: short smsCode", "/verify-code", obj{"phoneNumber": pNone, "smsCode": "12"}, "invalid_request", true},
		{"verify-code: not a number", "/verify-code", obj{"phoneNumber": "not a number", "smsCode": "123456"}, "invalid_phone_number", false},
	} {
		w = c.do(call{name: x.name, method: "POST", path: x.path, body: x.body, status: 400, code: x.code, badRequest: x.bad})
		if p := wantProblem(t, w, 400, x.code); p.Message == "" || p.Message != p.Detail {
			t.Fatalf("%s: a tutorial problem without message: %s", x.name, w.Body)
		}
	}

	// Twilio status callbacks.
	v7 := c.verification(c.do(call{name: "start for callbacks", method: "POST", path: "/v1/verifications", body: obj{"to": pHook}, status: 202}))
	q := url.Values{"v": {v7.ID}, "a": {"1"}}
	sid := "SM" + strings.Repeat("0123456789abcdef", 2) // the shape of a Twilio message SID
	form := url.Values{"MessageSid": {sid}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}, "AccountSid": {"AC1"}, "To": {pHook}}
	c.signedCallback("callback", nil, q, form, true, 204, "", false)
	c.signedCallback("late callback", nil, q, url.Values{"MessageSid": {sid}, "MessageStatus": {"sent"}}, true, 204, "", false)
	c.signedCallback("callback about an unknown verification", nil, url.Values{"v": {otherID(v7.ID)}, "a": {"1"}}, form, true, 204, "", false)
	w = c.do(call{name: "get after callbacks", method: "GET", path: "/v1/verifications/" + v7.ID, status: 200})
	if a := c.verification(w); a.Delivery.Status != otp.DeliveryUndelivered || a.Delivery.ErrorCode != 30003 || a.Delivery.MessageSID != sid {
		t.Fatalf("delivery after callbacks: %s", w.Body)
	}
	c.signedCallback("callback without signature", nil, q, form, false, 403, "invalid_signature", true)
	c.do(call{name: "callback with a forged signature", method: "POST", path: api.StatusCallbackPath + "?" + q.Encode(), body: form.Encode(),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "Zm9yZ2Vk"}, auth: "-", status: 403, code: "invalid_signature"})
	c.signedCallback("callback with attempt zero", nil, url.Values{"v": {v7.ID}, "a": {"0"}}, form, true, 400, "invalid_request", true)
	c.signedCallback("callback with a word for the attempt", nil, url.Values{"v": {v7.ID}, "a": {"one"}}, form, true, 400, "invalid_request", true)
	c.signedCallback("callback with a malformed id", nil, url.Values{"v": {"VEnope"}, "a": {"1"}}, form, true, 400, "invalid_request", true)
	c.signedCallback("callback without query", nil, nil, form, true, 400, "invalid_request", true)
	c.do(call{name: "callback that is not a form", method: "POST", path: api.StatusCallbackPath + "?" + q.Encode(), body: "MessageSid=%zz",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}, auth: "-", status: 400, code: "invalid_request", badRequest: true})
	c.signedCallback("callback too large", nil, q, url.Values{"MessageSid": {strings.Repeat("x", maxBody)}}, true, 413, "request_too_large", false)
	c.signedCallback("callbacks not configured", c.handlerWith(testPolicy, redisstore.LimitConfig{}, webhookConfig{}), q, form, true, 403, "forbidden", false)

	// Expiry.
	f.Clock.Advance(testPolicy.TTL + time.Minute)
	code4 := "000000"
	c.do(call{name: "check expired", method: "POST", path: "/v1/verifications/check", body: obj{"to": pExpire, "code": code4}, status: 404, code: "expired"})
	c.do(call{name: "get expired", method: "GET", path: "/v1/verifications/" + v4.ID, status: 200})
	c.do(call{name: "cancel expired", method: "POST", path: "/v1/verifications/" + v4.ID + "/cancel", status: 404, code: "expired"})
	w = c.do(call{name: "check locked and expired", method: "POST", path: "/v1/verifications/check", body: obj{"id": v3.ID, "code": code3}, status: 404, code: "expired"})
	if p := wantProblem(t, w, 404, "expired"); p.State != otp.StatusMaxAttempts {
		t.Fatalf("locked and expired: %s", w.Body)
	}
	c.do(call{name: "cancel locked and expired", method: "POST", path: "/v1/verifications/" + v3.ID + "/cancel", status: 404, code: "expired"})
	c.do(call{name: "get locked and expired", method: "GET", path: "/v1/verifications/" + v3.ID, status: 200})
	c.do(call{name: "verify-code expired", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pExpire, "smsCode": "000000"}, status: 400})

	// The queue is down: the send is rolled back and answered 503.
	f.Queue.Fail.Store(true)
	c.do(call{name: "start, queue down", method: "POST", path: "/v1/verifications", body: obj{"to": pBroken}, status: 503, code: "unavailable"})
	c.do(call{name: "send-code, queue down", method: "POST", path: "/send-code", body: obj{"phoneNumber": pBroken}, status: 503, code: "unavailable"})
	f.Queue.Fail.Store(false)

	// Too few Redis replicas took the send in time (REDIS_MIN_REPLICAS; the
	// test's Redis has none): it is undone and answered 503.
	lonely := f.routes(t, app.Options{Policy: testPolicy, MinReplicas: 1, MinReplicasTimeout: 20 * time.Millisecond}, testHooks, nil)
	c.do(call{name: "start, not replicated", h: lonely, method: "POST", path: "/v1/verifications", body: obj{"to": pBroken}, status: 503, code: "redis_not_replicated"})
	c.do(call{name: "send-code, not replicated", h: lonely, method: "POST", path: "/send-code", body: obj{"phoneNumber": pBroken}, status: 503, code: "redis_not_replicated"})

	// Redis is down.
	dead, err := redisconn.New("redis://" + proctest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	downParts := buildOn(t, dead, &app.Options{Policy: withGuardOn(testPolicy), Guard: &redisstore.GuardConfig{Window: time.Hour, Grace: time.Minute}})
	down := newHandler(deps{log: testLogger(t), svc: downParts.Service, fraud: downParts.Service, idem: downParts.Idempotency,
		apiKeys: testKeys, codeLength: codeLength, hooks: testHooks}, nil)
	c.do(call{name: "readyz, Redis down", h: down, method: "GET", path: "/readyz", auth: "-", status: 503, code: "unavailable"})
	c.do(call{name: "start, Redis down", h: down, method: "POST", path: "/v1/verifications", body: obj{"to": pBroken}, status: 503, code: "unavailable"})
	c.do(call{name: "check, Redis down", h: down, method: "POST", path: "/v1/verifications/check", body: obj{"to": pBroken, "code": "123456"}, status: 503, code: "unavailable"})
	c.do(call{name: "get, Redis down", h: down, method: "GET", path: "/v1/verifications/" + v1.ID, status: 503, code: "unavailable"})
	c.do(call{name: "cancel, Redis down", h: down, method: "POST", path: "/v1/verifications/" + v1.ID + "/cancel", status: 503, code: "unavailable"})
	c.do(call{name: "verify-code, Redis down", h: down, method: "POST", path: "/verify-code", body: obj{"phoneNumber": pBroken, "smsCode": "123456"}, status: 503, code: "unavailable"})
	c.signedCallback("callback, Redis down", down, q, form, true, 503, "unavailable", false)
	c.do(call{name: "fraud blocks, Redis down", h: down, method: "GET", path: "/v1/fraud/blocks", status: 503, code: "unavailable"})
	c.do(call{name: "lift, Redis down", h: down, method: "DELETE", path: "/v1/fraud/blocks/US", status: 503, code: "unavailable"})
	c.do(call{name: "safe list, Redis down", h: down, method: "GET", path: "/v1/fraud/safe-list", status: 503, code: "unavailable"})
	c.do(call{name: "add safe, Redis down", h: down, method: "PUT", path: "/v1/fraud/safe-list/%2B44", status: 503, code: "unavailable"})
	c.do(call{name: "remove safe, Redis down", h: down, method: "DELETE", path: "/v1/fraud/safe-list/%2B44", status: 503, code: "unavailable"})

	// Corrupt state is an internal error.
	v8 := c.verification(c.do(call{name: "start to corrupt", method: "POST", path: "/v1/verifications", body: obj{"to": pBroken}, status: 202}))
	tag8, _ := otp.TagOfID(v8.ID)
	if err := f.RDB.HSet(ctx, "otp:{"+tag8+"}", "n", "many").Err(); err != nil {
		t.Fatal(err)
	}
	c.do(call{name: "get corrupt", method: "GET", path: "/v1/verifications/" + v8.ID, status: 500, code: "internal"})
	c.do(call{name: "check corrupt", method: "POST", path: "/v1/verifications/check", body: obj{"id": v8.ID, "code": "123456"}, status: 500, code: "internal"})
	c.do(call{name: "cancel corrupt", method: "POST", path: "/v1/verifications/" + v8.ID + "/cancel", status: 500, code: "internal"})
	w = c.do(call{name: "verify-code corrupt", method: "POST", path: "/verify-code", body: obj{"phoneNumber": pBroken, "smsCode": "123456"}, status: 500, code: "internal"})
	if p := wantProblem(t, w, 500, "internal"); p.Message == "" {
		t.Fatalf("verify-code 500 without message: %s", w.Body)
	}

	// Geo permissions and mobile only.
	geo := testPolicy
	geo.AllowedCountries = map[string]bool{"GB": true}
	geo.RejectNonMobile = true
	hGeo := c.handlerWith(geo, redisstore.LimitConfig{}, testHooks)
	c.do(call{name: "start, country not allowed", h: hGeo, method: "POST", path: "/v1/verifications", body: obj{"to": pNone}, status: 403, code: "country_not_allowed"})
	c.do(call{name: "send-code, country not allowed", h: hGeo, method: "POST", path: "/send-code", body: obj{"phoneNumber": pNone}, status: 403, code: "country_not_allowed"})
	c.do(call{name: "start, landline", h: hGeo, method: "POST", path: "/v1/verifications", body: obj{"to": landGB}, status: 400, code: "not_mobile_number"})
	c.do(call{name: "send-code, landline", h: hGeo, method: "POST", path: "/send-code", body: obj{"phoneNumber": landGB}, status: 400, code: "not_mobile_number"})

	// The limits that span numbers, and the number's failure lock.
	fraud := testPolicy
	fraud.FailureLock = otp.Window{Count: 1, Period: time.Hour}
	hFraud := c.handlerWith(fraud, redisstore.LimitConfig{
		ClientIPSends:  []redisstore.Rate{{Count: 1, Period: time.Hour}},
		ClientIPChecks: []redisstore.Rate{{Count: 1, Period: time.Hour}},
		CountryBudgets: map[string]int{"GB": 0},
	}, testHooks)
	v9 := c.verification(c.do(call{name: "start with clientIp", h: hFraud, method: "POST", path: "/v1/verifications", body: obj{"to": pIP, "clientIp": "192.0.2.1"}, status: 202}))
	code9 := f.liveCode(t, v9.ID)
	w = c.do(call{name: "start, client_ip limit", h: hFraud, method: "POST", path: "/v1/verifications", body: obj{"to": pIP2, "clientIp": "192.0.2.1"}, status: 429, code: "rate_limited"})
	if p := wantProblem(t, w, 429, "rate_limited"); p.Limit != "client_ip" {
		t.Fatalf("limit %q", p.Limit)
	}
	c.do(call{name: "start, country budget", h: hFraud, method: "POST", path: "/v1/verifications", body: obj{"to": pGB}, status: 429, code: "rate_limited"})
	c.do(call{name: "send-code, country budget", h: hFraud, method: "POST", path: "/send-code", body: obj{"phoneNumber": pGB}, status: 429, code: "rate_limited"})
	c.do(call{name: "wrong code, spends the budgets", h: hFraud, method: "POST", path: "/v1/verifications/check", body: obj{"to": pIP, "code": wrong(code9), "clientIp": "192.0.2.2"}, status: 200})
	w = c.do(call{name: "check, client_ip limit", h: hFraud, method: "POST", path: "/v1/verifications/check", body: obj{"to": pIP, "code": code9, "clientIp": "192.0.2.2"}, status: 429, code: "rate_limited"})
	if p := wantProblem(t, w, 429, "rate_limited"); p.Limit != "client_ip" {
		t.Fatalf("limit %q", p.Limit)
	}
	w = c.do(call{name: "check, failed_checks limit", h: hFraud, method: "POST", path: "/v1/verifications/check", body: obj{"id": v9.ID, "code": code9}, status: 429, code: "rate_limited"})
	if p := wantProblem(t, w, 429, "rate_limited"); p.Limit != "failed_checks" {
		t.Fatalf("limit %q", p.Limit)
	}
	c.do(call{name: "verify-code, failed_checks limit", h: hFraud, method: "POST", path: "/verify-code", body: obj{"phoneNumber": pIP, "smsCode": code9}, status: 429, code: "rate_limited"})

	// API_KEY_WRITE_LIMITS: one write an hour, then every write route that
	// no send limit counts is refused.
	hWrites := c.handlerWith(testPolicy, redisstore.LimitConfig{APIKeyWrites: []redisstore.Rate{{Count: 1, Period: time.Hour}}}, testHooks)
	c.do(call{name: "cancel, the one write", h: hWrites, method: "POST", path: "/v1/verifications/" + otherID(v1.ID) + "/cancel", status: 404, code: "not_found"})
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/verifications/" + v1.ID + "/cancel", nil},
		{"POST", "/v1/verifications/check", obj{"id": v1.ID, "code": "123456"}},
		{"DELETE", "/v1/fraud/blocks/US", nil},
		{"PUT", "/v1/fraud/safe-list/%2B44", nil},
		{"DELETE", "/v1/fraud/safe-list/%2B44", nil},
		{"POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": "123456"}},
	} {
		w = c.do(call{name: "write limit", h: hWrites, method: r.method, path: r.path, body: r.body, status: 429, code: "rate_limited"})
		if p := wantProblem(t, w, 429, "rate_limited"); p.Limit != "api_key_writes" {
			t.Fatalf("%s %s: limit %q", r.method, r.path, p.Limit)
		}
	}

	// API_KEY_IDEMPOTENCY_KEYS: one kept answer, then a new key is refused.
	hCap := c.f.routes(t, app.Options{Policy: testPolicy, IdempotencyKeys: 1}, testHooks, nil)
	capKey := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	c.do(call{name: "start, the one kept answer", h: hCap, method: "POST", path: "/v1/verifications", body: obj{"to": pIP2}, header: capKey("cap-1"), status: 202})
	for _, x := range []call{
		{method: "POST", path: "/v1/verifications", body: obj{"to": pNone}},
		{method: "POST", path: "/v1/verifications/" + v1.ID + "/cancel"},
	} {
		x.name, x.h, x.header, x.status, x.code = "idempotency cap", hCap, capKey("cap-2"), 429, "rate_limited"
		if p := wantProblem(t, c.do(x), 429, "rate_limited"); p.Limit != "idempotency_keys" {
			t.Fatalf("%s: limit %q", x.path, p.Limit)
		}
	}

	// The fraud guard: a number type never sent to, a range blocked, the
	// blocks and the safe list.
	c.fraudScenario()
	c.telegramScenario()

	// Every documented path with each method it does not serve.
	c.sweepMethods(withMetrics, v1.ID)

	keys := make([]string, 0, len(c.sc.seen))
	for k := range c.sc.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("validated %d responses against api/openapi.yaml, %d distinct (operation, status, media type, code):\n  %s",
		c.sc.validated, len(keys), strings.Join(keys, "\n  "))
	c.sc.uncovered(t)
}

// uncovered logs the documented (operation, status) pairs the scenario did
// not produce, and fails for an operation it never reached.
func (sc *specCheck) uncovered(t *testing.T) {
	var missing []string
	for _, path := range sc.doc.Paths.InMatchingOrder() {
		for method, op := range sc.doc.Paths.Value(path).Operations() {
			reached := false
			for status := range op.Responses.Map() {
				prefix := fmt.Sprintf("%s %s %s ", method, path, status)
				hit := false
				for k := range sc.seen {
					if strings.HasPrefix(k, prefix) {
						hit, reached = true, true
					}
				}
				if !hit {
					missing = append(missing, method+" "+path+" "+status)
				}
			}
			if !reached {
				t.Errorf("the scenario never reached %s %s", method, path)
			}
		}
	}
	sort.Strings(missing)
	t.Logf("documented answers the scenario does not produce: %s", strings.Join(missing, ", "))
}

var allMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// sweepMethods sends every method a documented path does not serve and
// expects the document's 405 with the right Allow header.
func (c *conformance) sweepMethods(h http.Handler, id string) {
	c.t.Helper()
	paths := c.sc.doc.Paths
	for _, tmpl := range paths.InMatchingOrder() {
		concrete := strings.ReplaceAll(tmpl, "{id}", id)
		allowed := specMethodsFor(c.sc.doc, concrete)
		for _, m := range allMethods {
			if allowed[m] {
				continue
			}
			w := c.do(call{name: "405 sweep", h: h, method: m, path: concrete, auth: "-", status: 405, code: "method_not_allowed"})
			got := map[string]bool{}
			for _, a := range strings.Split(w.Header().Get("Allow"), ", ") {
				got[a] = true
			}
			if !maps2Equal(got, allowed) {
				c.t.Errorf("%s %s: Allow %q, but the document serves %v there", m, concrete, w.Header().Get("Allow"), keysOf(allowed))
			}
		}
	}
}

// specMethodsFor is the set of methods the document serves at a concrete
// path, over every template that matches it (/v1/verifications/check is
// also /v1/verifications/{id}).
func specMethodsFor(doc *openapi3.T, concrete string) map[string]bool {
	out := map[string]bool{}
	segs := strings.Split(concrete, "/")
	for tmpl, item := range doc.Paths.Map() {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		match := true
		for i := range ts {
			if !(strings.HasPrefix(ts[i], "{") || ts[i] == segs[i]) {
				match = false
				break
			}
		}
		if match {
			for m := range item.Operations() {
				out[m] = true
			}
		}
	}
	return out
}

func maps2Equal(a, b map[string]bool) bool {
	return reflect.DeepEqual(keysOf(a), keysOf(b))
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIRoutes: the router's routes are exactly the document's
// operations, with the metrics route mounted as in production.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadSpec(t)
	log := slog.New(slog.DiscardHandler)
	// Routes only: nothing is served.
	eng, ok := newHandler(deps{log: log, apiKeys: testKeys, codeLength: codeLength, hooks: testHooks}, http.NotFoundHandler()).(*gin.Engine)
	if !ok {
		t.Fatal("newHandler no longer returns a *gin.Engine; adapt this test")
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_][A-Za-z0-9_]*)`)
	inRouter := map[string]bool{}
	for _, r := range eng.Routes() {
		inRouter[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	inSpec := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			inSpec[m+" "+path] = true
		}
	}
	for r := range inRouter {
		if !inSpec[r] {
			t.Errorf("route %s is not in api/openapi.yaml", r)
		}
	}
	for r := range inSpec {
		if !inRouter[r] {
			t.Errorf("api/openapi.yaml documents %s, which the router does not serve", r)
		}
	}

	// Security: the bearer key exactly where requireAPIKey runs.
	public := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.yaml": true, api.StatusCallbackPath: true,
		api.TelegramCallbackPath: true}
	for path, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			needsKey := len(sec) == 1 && sec[0]["bearer"] != nil
			if public[path] == needsKey || (!needsKey && len(sec) != 0) {
				t.Errorf("%s %s: security %v, but the route is public=%v", m, path, sec, public[path])
			}
			if needsKey && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s needs a key but documents no 401", m, path)
			}
		}
	}
}

// jsonMembers lists the JSON members of a Go struct type (embedded
// structs flattened) and which of them are always present.
func jsonMembers(t reflect.Type) (all, always []string) {
	for i := 0; i < t.NumField(); i++ {
		fl := t.Field(i)
		tag := fl.Tag.Get("json")
		if fl.Anonymous && tag == "" {
			a, r := jsonMembers(fl.Type)
			all, always = append(all, a...), append(always, r...)
			continue
		}
		if tag == "-" || !fl.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = fl.Name
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	sort.Strings(always)
	return all, always
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func without(s []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(x string) bool { return slices.Contains(drop, x) })
}

// TestOpenAPIGoTypes: each schema has exactly the members its Go type
// marshals, and requires exactly those that are never omitted.
func TestOpenAPIGoTypes(t *testing.T) {
	doc := loadSpec(t)
	schema := func(name string) *openapi3.Schema {
		s := doc.Components.Schemas[name]
		if s == nil || s.Value == nil {
			t.Fatalf("components.schemas.%s is missing", name)
		}
		return s.Value
	}
	for _, tc := range []struct {
		schema   string
		goType   any
		drop     []string // members of the Go type the schema leaves out
		extraReq []string // members the code always fills although omitempty
		checkReq bool     // responses: required must follow omitempty
	}{
		{"Verification", otp.Verification{}, nil, nil, true},
		{"Delivery", otp.Delivery{}, nil, nil, true},
		{"Attempt", otp.Attempt{}, nil, nil, true},
		{"CheckResult", checkResponse{}, nil, nil, true},
		{"Problem", Problem{}, []string{"message"}, nil, true},
		{"LegacyProblem", Problem{}, nil, []string{"detail", "message"}, true},
		{"StartRequest", startRequest{}, nil, nil, false},
		{"CheckRequest", checkRequest{}, nil, nil, false},
		{"SendCodeRequest", sendCodeRequest{}, nil, nil, false},
		{"VerifyCodeRequest", verifyCodeRequest{}, nil, nil, false},
		{"FraudBlock", otp.FraudBlock{}, nil, nil, true},
		{"SafeListEntry", otp.SafeListEntry{}, nil, nil, true},
	} {
		s := schema(tc.schema)
		all, always := jsonMembers(reflect.TypeOf(tc.goType))
		if got, want := sortedKeys(s.Properties), without(all, tc.drop...); !slices.Equal(got, want) {
			t.Errorf("%s has members %v, but %T marshals %v", tc.schema, got, tc.goType, want)
		}
		if tc.checkReq {
			want := sorted(append(without(always, tc.drop...), tc.extraReq...))
			if got := sorted(s.Required); !slices.Equal(got, want) {
				t.Errorf("%s requires %v, but %T always has %v", tc.schema, got, tc.goType, want)
			}
		}
		if ap := s.AdditionalProperties; ap.Has == nil || *ap.Has {
			t.Errorf("%s must say additionalProperties: false (the code never adds members)", tc.schema)
		}
	}
}

// goConsts returns the string constants of the given type declared in a
// Go file.
func goConsts(t *testing.T, file, typ string) []string {
	t.Helper()
	fs := token.NewFileSet()
	af, err := parser.ParseFile(fs, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range af.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants in %s", typ, file)
	}
	sort.Strings(out)
	return out
}

func enumOf(t *testing.T, s *openapi3.Schema) []string {
	t.Helper()
	var out []string
	for _, v := range s.Enum {
		out = append(out, fmt.Sprint(v))
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIProblemCodes: the enums are the Go constants, and the problem
// codes are exactly those the code can produce.
func TestOpenAPIProblemCodes(t *testing.T) {
	doc := loadSpec(t)
	sch := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	verification := filepath.Join("..", "..", "otp", "verification.go")

	if got, want := enumOf(t, sch("VerificationStatus")), goConsts(t, verification, "Status"); !slices.Equal(got, want) {
		t.Errorf("VerificationStatus enum %v, Go constants %v", got, want)
	}
	if got, want := enumOf(t, sch("DeliveryStatus")), goConsts(t, verification, "DeliveryStatus"); !slices.Equal(got, want) {
		t.Errorf("DeliveryStatus enum %v, Go constants %v", got, want)
	}

	// Codes written as literals: problem(status, "code", …) anywhere in
	// the package.
	codes := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 3 {
				return true
			}
			if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "problem" {
				return true
			}
			if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				codes[s] = true
			}
			return true
		})
	}
	// Codes computed from errors: finished verifications and limits.
	states, limits := map[string]bool{}, map[string]bool{}
	for _, s := range goConsts(t, verification, "Status") {
		if otp.Status(s) == otp.StatusPending {
			continue // a FinishedError is never pending
		}
		p := problemFor(&otp.FinishedError{Status: otp.Status(s)})
		codes[p.Code] = true
		states[string(p.State)] = true
	}
	for _, r := range goConsts(t, verification, "LimitReason") {
		p := problemFor(&otp.LimitError{Reason: otp.LimitReason(r), RetryAfter: time.Second})
		codes[p.Code] = true
		if p.Limit != "" {
			limits[p.Limit] = true
		}
		if p.Code == "rate_limited" && p.Detail == "" {
			t.Errorf("limit %s has no detail", r)
		}
	}
	if got, want := enumOf(t, sch("ProblemCode")), keysOf(codes); !slices.Equal(got, want) {
		t.Errorf("ProblemCode enum %v, but the code produces %v", got, want)
	}
	if got, want := enumOf(t, sch("Limit")), keysOf(limits); !slices.Equal(got, want) {
		t.Errorf("Limit enum %v, but the code produces %v", got, want)
	}
	if got, want := enumOf(t, sch("Problem").Properties["verificationStatus"].Value), keysOf(states); !slices.Equal(got, want) {
		t.Errorf("verificationStatus enum %v, but the code produces %v", got, want)
	}

	// Delivery reasons: every one the worker records is documented.
	reasons := map[string]bool{}
	for _, r := range enumOf(t, sch("DeliveryReason")) {
		reasons[r] = true
	}
	for _, r := range goConsts(t, verification, "DeliveryReason") {
		if !reasons[r] {
			t.Errorf("otp.DeliveryReason %q is not in DeliveryReason", r)
		}
	}
	for _, s := range goConsts(t, verification, "Status") {
		if otp.Status(s) != otp.StatusPending && !reasons[s] { // a claim skipped on a finished verification
			t.Errorf("DeliveryReason lacks the status %q", s)
		}
	}
}
