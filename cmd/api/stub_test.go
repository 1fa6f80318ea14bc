package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpd/otpd/otp"
)

// stub stands in for the service in the tests of HTTP itself: what a
// request becomes, and how each answer of the service is written. They
// need no Redis; the rest of this package's tests, and the end-to-end
// suite, run the real service.
type stub struct {
	err    error // every call's error
	v      otp.Verification
	starts []otp.StartRequest
	checks []otp.CheckRequest
}

func (s *stub) Start(_ context.Context, r otp.StartRequest) (otp.Verification, bool, error) {
	s.starts = append(s.starts, r)
	return s.v, true, s.err
}

func (s *stub) Check(_ context.Context, r otp.CheckRequest) (otp.Verification, bool, error) {
	s.checks = append(s.checks, r)
	return s.v, s.err == nil, s.err
}

func (s *stub) Get(context.Context, string) (otp.Verification, error) { return s.v, s.err }
func (s *stub) Cancel(context.Context, string) (otp.Verification, bool, error) {
	return s.v, s.err == nil, s.err
}
func (s *stub) DeliveryReport(context.Context, otp.DeliveryReport) error { return s.err }
func (s *stub) Ready(context.Context) error                              { return s.err }

// stubRoutes is the public router over svc, with no Idempotency-Key store
// (requests without the header never reach it).
func stubRoutes(svc verifications) http.Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return newHandler(deps{log: log, svc: svc, apiKeys: testKeys, codeLength: codeLength, hooks: testHooks}, nil)
}

// What a request says is what reaches the service: its fields, the end
// user's IP normalised, the API key's id, and a workflow's steps.
func TestRequestsReachTheService(t *testing.T) {
	svc := &stub{v: otp.Verification{ID: "VE0123456789abcdef0123456789abcdef"}}
	h := stubRoutes(svc)
	w := serve(h, "POST", "/v1/verifications", map[string]any{"to": phone, "channel": "sms", "locale": "fr",
		"brand": "Acme", "appHash": "FA+9qCX9VSu", "clientIp": "2001:db8::1:2:3:4",
		"workflow": []map[string]string{{"channel": "sms"}, {"channel": "call"}}, "channelTimeout": 30})
	wantStatus(t, w, http.StatusAccepted)
	serve(h, "POST", "/v1/verifications/check", map[string]string{"to": phone, "code": "123456", "clientIp": "::ffff:192.0.2.7"})
	serve(h, "POST", "/verify-code", map[string]any{"phoneNumber": phone, "smsCode": 12345})
	// The key's id: 6 bytes of its SHA-256, never the key.
	sum := sha256.Sum256([]byte(testKeys[0]))
	keyID := hex.EncodeToString(sum[:6])
	want := []otp.StartRequest{{To: phone, Channel: "sms", Locale: "fr", Brand: "Acme", AppHash: "FA+9qCX9VSu",
		Workflow: []string{"sms", "call"}, ChannelTimeout: 30 * time.Second,
		Origin: otp.Origin{ClientIP: "2001:db8::/64", APIKeyID: keyID}}}
	if diff := cmp.Diff(want, svc.starts); diff != "" {
		t.Errorf("start requests (-want +got):\n%s", diff)
	}
	wantChecks := []otp.CheckRequest{
		{To: phone, Code: "123456", Origin: otp.Origin{ClientIP: "192.0.2.7", APIKeyID: keyID}},
		{To: phone, Code: "012345", Origin: otp.Origin{APIKeyID: keyID}}, // the tutorial's number, zero put back
	}
	if diff := cmp.Diff(wantChecks, svc.checks); diff != "" {
		t.Errorf("check requests (-want +got):\n%s", diff)
	}
}

// Every error the service answers with becomes its one HTTP answer
// (problem.go), on every route that can meet it.
func TestServiceErrorsBecomeProblems(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		limit      string
		retryAfter int
	}{
		{otp.ErrNotFound, 404, "not_found", "", 0},
		{&otp.InputError{Detail: "bad"}, 400, "invalid_request", "", 0},
		{otp.ErrInvalidPhone, 400, "invalid_phone_number", "", 0},
		{otp.ErrCountryNotAllowed, 403, "country_not_allowed", "", 0},
		{otp.ErrNotMobile, 400, "not_mobile_number", "", 0},
		{&otp.ChannelError{Channel: "call", Enabled: []string{"sms"}}, 400, "channel_unavailable", "", 0},
		{&otp.FinishedError{Status: otp.StatusApproved}, 404, "approved", "", 0},
		{&otp.FinishedError{Status: otp.StatusMaxAttempts}, 404, "expired", "", 0},
		{&otp.LimitError{Reason: otp.LimitCooldown, RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", "to", 2},
		{&otp.LimitError{Reason: otp.LimitMaxSends, RetryAfter: time.Minute}, 429, "max_send_attempts", "", 60},
		{&otp.LimitError{Reason: otp.LimitPrefix, RetryAfter: time.Millisecond}, 429, "rate_limited", "prefix", 1},
		{fmt.Errorf("%w: redis: connection refused", otp.ErrUnavailable), 503, "unavailable", "", 1},
		{otp.ErrCollision, 503, "unavailable", "", 1},
		{errors.New("something unforeseen"), 500, "internal", "", 0},
	} {
		t.Run(tc.code+" "+tc.err.Error(), func(t *testing.T) {
			h := stubRoutes(&stub{err: tc.err})
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/v1/verifications", map[string]string{"to": phone}},
				{"POST", "/v1/verifications/check", map[string]string{"to": phone, "code": "123456"}},
				{"GET", "/v1/verifications/VE0123456789abcdef0123456789abcdef", nil},
				{"POST", "/v1/verifications/VE0123456789abcdef0123456789abcdef/cancel", nil},
			} {
				w := serve(h, r.method, r.path, r.body)
				p := wantProblem(t, w, tc.status, tc.code)
				if p.Limit != tc.limit || p.RetryAfter != tc.retryAfter {
					t.Errorf("%s %s: limit %q retryAfter %d, want %q %d", r.method, r.path, p.Limit, p.RetryAfter, tc.limit, tc.retryAfter)
				}
			}
		})
	}
}
