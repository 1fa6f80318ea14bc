// Package client is otpd's Go client: start, check, read and cancel
// verifications from a signup backend.
//
//	c, err := client.New("https://otp.internal", os.Getenv("OTPD_API_KEY"))
//	v, err := c.Start(ctx, client.StartRequest{To: "+14155552671"})
//	res, err := c.Check(ctx, client.CheckRequest{ID: v.ID, Code: typed})
//	if client.IsCode(err, client.CodeMaxCheckAttempts) { … }
//
// Its HTTP layer is generated from api/openapi.yaml by oapi-codegen
// (client/internal/oapi, make generate), so it cannot drift from the
// server's contract. This package adds typed errors, an Idempotency-Key on
// every start and cancel, and retries: otpd's 503 (and a 409 while an
// idempotent request still runs) is retried after its Retry-After; a
// start, cancel or read is also retried after a network error or a
// proxy's 502, 503 or 504, which the key or the read makes safe.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/client/internal/oapi"
)

// ErrorCode is a problem's stable code (Error.Code).
type ErrorCode string

// The problem codes (docs/api.md, "Errors").
const (
	CodeInvalidRequest        = ErrorCode(oapi.ProblemCodeInvalidRequest)
	CodeInvalidPhoneNumber    = ErrorCode(oapi.ProblemCodeInvalidPhoneNumber)
	CodeNotMobileNumber       = ErrorCode(oapi.ProblemCodeNotMobileNumber)
	CodeChannelUnavailable    = ErrorCode(oapi.ProblemCodeChannelUnavailable)
	CodeInvalidIdempotencyKey = ErrorCode(oapi.ProblemCodeInvalidIdempotencyKey)
	CodeUnauthorized          = ErrorCode(oapi.ProblemCodeUnauthorized)
	CodeCountryNotAllowed     = ErrorCode(oapi.ProblemCodeCountryNotAllowed)
	CodeNumberTypeBlocked     = ErrorCode(oapi.ProblemCodeNumberTypeBlocked)
	CodeFraudBlocked          = ErrorCode(oapi.ProblemCodeFraudBlocked)
	CodeSafeListFixed         = ErrorCode(oapi.ProblemCodeSafeListFixed)
	CodeForbidden             = ErrorCode(oapi.ProblemCodeForbidden)
	CodeInvalidSignature      = ErrorCode(oapi.ProblemCodeInvalidSignature)
	CodeMethodNotAllowed      = ErrorCode(oapi.ProblemCodeMethodNotAllowed)
	CodeNotFound              = ErrorCode(oapi.ProblemCodeNotFound)
	CodeApproved              = ErrorCode(oapi.ProblemCodeApproved)
	CodeCanceled              = ErrorCode(oapi.ProblemCodeCanceled)
	CodeExpired               = ErrorCode(oapi.ProblemCodeExpired)
	CodeIdempotencyInProgress = ErrorCode(oapi.ProblemCodeIdempotencyInProgress)
	CodeIdempotencyKeyReused  = ErrorCode(oapi.ProblemCodeIdempotencyKeyReused)
	CodeRequestTooLarge       = ErrorCode(oapi.ProblemCodeRequestTooLarge)
	CodeRateLimited           = ErrorCode(oapi.ProblemCodeRateLimited)
	CodeMaxSendAttempts       = ErrorCode(oapi.ProblemCodeMaxSendAttempts)
	CodeMaxCheckAttempts      = ErrorCode(oapi.ProblemCodeMaxCheckAttempts)
	CodeInternal              = ErrorCode(oapi.ProblemCodeInternal)
	CodeUnavailable           = ErrorCode(oapi.ProblemCodeUnavailable)
	// CodeRedisNotReplicated: a send that too few Redis replicas took in
	// time (REDIS_MIN_REPLICAS); it was undone, and is retried as
	// CodeUnavailable is.
	CodeRedisNotReplicated = ErrorCode(oapi.ProblemCodeRedisNotReplicated)
)

// Error is the API's answer to a request it refused: an RFC 9457 problem.
type Error struct {
	Status int       // the HTTP status
	Code   ErrorCode // the stable code; "" when the answer was no problem document
	Detail string    // for humans; not stable
	// Limit names the limit behind a rate_limited (to, client_ip, …).
	Limit string
	// RetryAfter is the server's Retry-After, when it gave one.
	RetryAfter time.Duration
	// VerificationStatus says how a finished verification ended (404s).
	VerificationStatus string
	RequestID          string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("otpd: %d", e.Status)
	if e.Code != "" {
		msg += " " + string(e.Code)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// IsCode reports whether err is an API problem with that code.
func IsCode(err error, code ErrorCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Client calls one otpd API. It is safe for concurrent use.
type Client struct {
	api        *oapi.Client
	retries    int
	maxWait    time.Duration
	sleep      func(context.Context, time.Duration) error
	httpClient oapi.HttpRequestDoer
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc (default: an http.Client with a
// 10 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.httpClient = hc } }

// WithRetries sets how many times a request is retried (default 3; 0 never).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithMaxRetryWait caps the wait before a retry, whatever Retry-After says
// (default 10 s). A context deadline ends the waiting too.
func WithMaxRetryWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// New returns a client of the API at baseURL (e.g. http://otp.internal:8080)
// that authenticates with apiKey, one of the server's API_KEYS. A baseURL
// that is not an http:// or https:// URL with a host (localhost:8080, say)
// is an error here, not at the first request.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if err := checkBaseURL(baseURL); err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, errors.New("otpd client: an API key is required")
	}
	c := &Client{retries: 3, maxWait: 10 * time.Second, sleep: sleepCtx,
		httpClient: &http.Client{Timeout: 10 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	api, err := oapi.NewClient(baseURL, oapi.WithHTTPClient(c.httpClient),
		oapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("User-Agent", "otpd-go-client")
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("otpd client: %w", err)
	}
	c.api = api
	return c, nil
}

// checkBaseURL refuses what net/http would only refuse at the first
// request ("unsupported protocol scheme"), or would quietly misread: a
// query or fragment, which every operation's path would drop.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("otpd client: base URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("otpd client: base URL %q: want http:// or https:// and a host (e.g. http://localhost:8080)", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("otpd client: base URL %q has no host (e.g. http://localhost:8080)", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("otpd client: base URL %q: a query or fragment would be dropped; give the API's root", s)
	}
	return nil
}

// StartRequest asks for a code to be sent (docs/api.md, "Start a verification").
type StartRequest struct {
	To       string  // as the user typed it
	Channel  Channel // "" is SMS
	Locale   string  // a BCP 47 tag; "" lets the number's country decide
	Brand    string
	AppHash  string
	ClientIP string // the end user's IP, for the per-IP limits
	// Workflow plans fallback channels (a new verification's), each step
	// waiting ChannelTimeout (0: the server's default) for approval.
	Workflow       []Channel
	ChannelTimeout time.Duration
	// IdempotencyKey makes retries of this start safe; "" uses a fresh
	// random key, the same for every retry of this call.
	IdempotencyKey string
}

// Start sends a code: a new verification, or a resend of the number's
// pending one. It answers once the code is stored and its message queued.
func (c *Client) Start(ctx context.Context, r StartRequest) (Verification, error) {
	body := oapi.StartRequest{To: r.To, Channel: optional(oapi.StartRequestChannel(r.Channel)),
		Locale: optional(r.Locale), Brand: optional(r.Brand), AppHash: optional(r.AppHash), ClientIp: optional(r.ClientIP)}
	if len(r.Workflow) > 0 {
		steps := make([]struct {
			Channel oapi.StartRequestWorkflowChannel `json:"channel"`
		}, len(r.Workflow))
		for i, ch := range r.Workflow {
			steps[i].Channel = oapi.StartRequestWorkflowChannel(ch)
		}
		body.Workflow = &steps
	}
	if r.ChannelTimeout > 0 {
		// Whole seconds, rounded up: a fraction is never sent as 0, which
		// the server would read as "its default".
		secs := int((r.ChannelTimeout + time.Second - 1) / time.Second)
		body.ChannelTimeout = &secs
	}
	key, err := idempotencyKey(r.IdempotencyKey)
	if err != nil {
		return Verification{}, err
	}
	params := &oapi.StartVerificationParams{IdempotencyKey: &key}
	return convert(verification)(do[oapi.Verification](ctx, c, true, http.StatusAccepted, func(ctx context.Context) (*http.Response, error) {
		return c.api.StartVerification(ctx, params, body)
	}))
}

// CheckRequest names the verification by ID, or by the number (To), and
// carries the code the user typed.
type CheckRequest struct {
	ID, To   string
	Code     string
	ClientIP string
}

// Check tests a code. A code that is not the right one is no error, the
// result says Valid false: a wrong code (counted, CheckAttempts), and a
// code that is not OTP_CODE_LENGTH digits (not counted, Malformed), which
// the API refuses with 400 invalid_request. The errors are the request's
// other faults (no ID or To, both, a bad ClientIP: *Error
// CodeInvalidRequest; a To that is no number: CodeInvalidPhoneNumber), a
// finished or locked verification (*Error CodeApproved, CodeExpired,
// CodeNotFound, CodeMaxCheckAttempts …), and otpd out of reach.
//
// A check is not idempotent (it counts attempts), so only otpd's own 503
// (Redis unreachable, or the request out of time) is retried; a proxy's
// 503 or a lost connection is returned. If the 503 came after the check ran
// and approved, the retry is answered CodeApproved.
func (c *Client) Check(ctx context.Context, r CheckRequest) (CheckResult, error) {
	body := oapi.CheckRequest{Code: r.Code, Id: optional(r.ID), To: optional(r.To), ClientIp: optional(r.ClientIP)}
	res, err := do[struct {
		oapi.Verification
		Valid bool
	}](ctx, c, false, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.CheckVerification(ctx, nil, body)
	})
	switch {
	case err == nil:
		return CheckResult{Valid: res.Valid, Verification: verification(res.Verification)}, nil
	case codeRefused(r, err):
		return CheckResult{Malformed: true}, nil
	}
	return CheckResult{}, err
}

// codeRefused reports whether err is the API's refusal of r's code. The
// API reads a check in order: its JSON (which this client writes), the
// clientIp, one of id and to (an unknown id is a 404, a bad number
// invalid_phone_number), then the code's shape. So its 400 invalid_request
// to a request whose other members pass is about the code.
func codeRefused(r CheckRequest, err error) bool {
	if !IsCode(err, CodeInvalidRequest) || (r.ID == "") == (r.To == "") {
		return false
	}
	if r.ClientIP == "" {
		return true
	}
	ip, perr := netip.ParseAddr(strings.TrimSpace(r.ClientIP))
	return perr == nil && ip.Zone() == ""
}

// Get reads a verification.
func (c *Client) Get(ctx context.Context, id string) (Verification, error) {
	return convert(verification)(do[oapi.Verification](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.GetVerification(ctx, id, nil)
	}))
}

// Cancel ends a pending verification; its code dies with it. Canceling a
// canceled verification answers it again.
func (c *Client) Cancel(ctx context.Context, id string) (Verification, error) {
	key, err := idempotencyKey("")
	if err != nil {
		return Verification{}, err
	}
	params := &oapi.CancelVerificationParams{IdempotencyKey: &key}
	return convert(verification)(do[oapi.Verification](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.CancelVerification(ctx, id, params)
	}))
}

// convert turns an operation's generated answer into this package's type;
// after an error, the zero value.
func convert[A, B any](f func(A) B) func(A, error) (B, error) {
	return func(a A, err error) (B, error) {
		if err != nil {
			var zero B
			return zero, err
		}
		return f(a), nil
	}
}

// do runs one operation with the client's retries, and decodes its answer
// when it has the status ok. safe says a retry after a network error or a
// gateway's 502 or 504 cannot repeat the operation's effect.
func do[T any](ctx context.Context, c *Client, safe bool, ok int, call func(context.Context) (*http.Response, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		resp, err := call(ctx)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
			resp.Body.Close()
		}
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !safe || attempt >= c.retries {
				return zero, fmt.Errorf("otpd client: %w", err)
			}
			wait = backoff(attempt)
		case resp.StatusCode == ok:
			var v T
			if ok == http.StatusNoContent {
				return v, nil
			}
			if err := json.Unmarshal(body, &v); err != nil {
				return zero, fmt.Errorf("otpd client: decode the %d answer: %w", ok, err)
			}
			return v, nil
		default:
			e := problem(resp, body)
			// otpd's own 503 (a problem document) is retried for every
			// operation; a proxy's 503, 502 or 504 only where a retry is safe.
			retry := e.Code == CodeUnavailable || e.Code == CodeRedisNotReplicated || e.Code == CodeIdempotencyInProgress ||
				(safe && (e.Status == http.StatusServiceUnavailable || e.Status == http.StatusBadGateway ||
					e.Status == http.StatusGatewayTimeout))
			if !retry || attempt >= c.retries {
				return zero, e
			}
			wait = e.RetryAfter
			if wait <= 0 {
				wait = backoff(attempt)
			}
		}
		if err := c.sleep(ctx, min(wait, c.maxWait)); err != nil {
			return zero, fmt.Errorf("otpd client: %w", err)
		}
	}
}

// maxAnswer bounds what is read of an answer; the API's are a few KiB.
const maxAnswer = 1 << 20

// problem reads a refusal's problem document, or makes one of the status.
func problem(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		e.Detail = strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 200)], nil)))
		return e
	}
	var p oapi.Problem
	if json.Unmarshal(body, &p) == nil {
		e.Code = ErrorCode(p.Code)
		e.Detail = deref(p.Detail)
		e.Limit = string(deref(p.Limit))
		e.VerificationStatus = string(deref(p.VerificationStatus))
	}
	return e
}

// idempotencyKey is key as the header's Structured Field String, or a
// fresh random UUID.
func idempotencyKey(key string) (string, error) {
	if key == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("otpd client: idempotency key: %w", err)
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
		key = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`, nil
}

// backoff waits 100 ms, 200 ms, 400 ms … up to 5 s between retries that
// the server gave no Retry-After for, with up to 50% jitter.
func backoff(attempt int) time.Duration {
	d := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
	var b [2]byte
	_, _ = rand.Read(b[:])
	return d/2 + time.Duration(int64(d/2)*int64(uint16(b[0])<<8|uint16(b[1]))>>16)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func optional[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
