package telegram

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/otpd/otpd/otp"
)

func TestClassify(t *testing.T) {
	const (
		transient = iota
		permanent
		account
	)
	for _, tc := range []struct {
		name  string
		kind  int
		after time.Duration
	}{
		{"FLOOD_WAIT_3", transient, 3 * time.Second},
		{"flood_wait_120", transient, 2 * time.Minute},
		{"FLOOD_WAIT_", transient, 0},
		{"FLOOD_WAIT_0", transient, 0},
		{"FLOOD_WAIT_-5", transient, 0},
		{"FLOOD_WAIT_X", transient, 0},

		{"ACCESS_TOKEN_INVALID", account, 0},
		{"access_token_invalid", account, 0},
		{"ACCESS_TOKEN_REQUIRED", account, 0},
		{"BALANCE_NOT_ENOUGH", account, 0},
		{"SENDER_NOT_OWNED", account, 0},
		{"SENDER_NOT_VERIFIED", account, 0},
		{"SENDER_USERNAME_INVALID", account, 0},
		{"UNKNOWN_METHOD", account, 0},
		{"CALLBACK_URL_INVALID", account, 0},
		{"CODE_INVALID", account, 0},
		{"CODE_LENGTH_INVALID", account, 0},
		{"CODE_LENGTH_REQUIRED", account, 0},
		{"TTL_INVALID", account, 0},
		{"PAYLOAD_INVALID", account, 0},

		{"PHONE_NUMBER_INVALID", permanent, 0},
		{"PHONE_NUMBER_NOT_FOUND", permanent, 0},
		{" phone_number_not_found ", permanent, 0},
		{"REQUEST_ID_INVALID", permanent, 0},
		{"REQUEST_ID_REQUIRED", permanent, 0},
		{"PHONE_NUMBER_BANNED", permanent, 0},
		{"RECIPIENT_NOT_FOUND", permanent, 0},
		{"LOCALE_INVALID", permanent, 0},

		{"INTERNAL", transient, 0},
		{"TIMEOUT", transient, 0},
		{"", transient, 0},
	} {
		p, a, after := classify(tc.name)
		kind := transient
		switch {
		case p && a:
			kind = account
		case p:
			kind = permanent
		case a:
			t.Errorf("%q: account yet transient", tc.name)
		}
		if kind != tc.kind || after != tc.after {
			t.Errorf("classify(%q) = permanent %v, account %v, after %v", tc.name, p, a, after)
		}
	}
}

func TestHTTPError(t *testing.T) {
	for status, permanent := range map[int]bool{
		200: false, 204: false, 408: false, 429: false, 500: false, 502: false, 503: false,
		301: true, 400: true, 401: true, 403: true, 404: true, 407: true,
	} {
		var se *otp.SendError
		if err := httpError(methodSend, status, time.Second); !errors.As(err, &se) || se.Permanent != permanent ||
			se.Account != permanent || se.HTTPStatus != status || se.RetryAfter != time.Second {
			t.Errorf("http %d: %+v", status, se)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, " 10 ": 10 * time.Second, "0": 0, "-1": 0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		if got := retryAfter(http.Header{"Retry-After": {v}}); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}
