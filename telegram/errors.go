package telegram

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/otp"
)

// APIError is an ok:false answer of Telegram's. The *otp.SendError a
// Client returns wraps it (errors.As), so that a caller can tell refusals
// apart by Name.
type APIError struct {
	Method string // "sendVerificationMessage"
	// Name is the error as Telegram wrote it, bounded and with phone
	// numbers masked: "PHONE_NUMBER_INVALID", "FLOOD_WAIT_3".
	Name string
}

func (e *APIError) Error() string { return "telegram: " + e.Method + ": " + e.Name }

// classify sorts an error name of Telegram's. Telegram's error names are not
// listed anywhere official: the Gateway API page (core.telegram.org/
// gateway/api) only shows ACCESS_TOKEN_INVALID, as its example of an error.
// The names below are those the published client github.com/deus-developer/
// tgateway maps to exceptions (tgateway/exceptions.py); they are compared
// case-insensitively, as the API's method names are.
//
//   - FLOOD_WAIT_<n>: too many requests; transient, retried after n seconds.
//   - account: the refusal is not of this message but of every one alike,
//     and only an operator can end it: a wrong or missing token
//     (ACCESS_TOKEN_INVALID, ACCESS_TOKEN_REQUIRED), no credits
//     (BALANCE_NOT_ENOUGH), a sender channel not ours or unverified
//     (SENDER_NOT_OWNED, SENDER_NOT_VERIFIED, SENDER_USERNAME_INVALID), a
//     wrong API URL (UNKNOWN_METHOD), a public URL Telegram will not call
//     (CALLBACK_URL_INVALID), and parameters Send checks before sending, so
//     that Telegram refusing them means its limits moved (CODE_INVALID,
//     CODE_LENGTH_INVALID, CODE_LENGTH_REQUIRED, TTL_INVALID,
//     PAYLOAD_INVALID). Permanent, with Account set.
//   - permanent: this number or request is refused and would be again:
//     PHONE_NUMBER_INVALID, PHONE_NUMBER_NOT_FOUND (no Telegram account
//     uses the number), REQUEST_ID_INVALID, REQUEST_ID_REQUIRED; and, for
//     names not listed, any PHONE_NUMBER_… and any …_INVALID, …_REQUIRED or
//     …_NOT_FOUND, the forms Telegram names a refused parameter with.
//   - anything else is transient: a name outside those forms is more likely
//     a passing state of Telegram's than a verdict on the number, and the
//     queue's retries are bounded, while a code lost to a wrong permanent
//     verdict is not retried at all.
func classify(name string) (permanent, account bool, after time.Duration) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if s, ok := strings.CutPrefix(n, "FLOOD_WAIT_"); ok {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			after = time.Duration(secs) * time.Second
		}
		return false, false, after
	}
	switch n {
	case "ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_REQUIRED", "BALANCE_NOT_ENOUGH",
		"SENDER_NOT_OWNED", "SENDER_NOT_VERIFIED", "SENDER_USERNAME_INVALID", "UNKNOWN_METHOD",
		"CALLBACK_URL_INVALID", "CODE_INVALID", "CODE_LENGTH_INVALID", "CODE_LENGTH_REQUIRED",
		"TTL_INVALID", "PAYLOAD_INVALID":
		return true, true, 0
	}
	switch {
	case strings.HasPrefix(n, "PHONE_NUMBER_"), strings.HasSuffix(n, "_INVALID"),
		strings.HasSuffix(n, "_REQUIRED"), strings.HasSuffix(n, "_NOT_FOUND"):
		return true, false, 0
	}
	return false, false, 0
}

// apiError turns an ok:false answer into a SendError.
func (c *Client) apiError(method, name string, status int, headerAfter time.Duration) error {
	permanent, account, after := classify(name)
	if after == 0 {
		after = headerAfter
	}
	return &otp.SendError{Channel: Channel, Permanent: permanent, Account: account, HTTPStatus: status,
		RetryAfter: after, Err: &APIError{Method: method, Name: c.scrub(name)}}
}

// httpError classifies an answer that is not the Gateway API's envelope:
// a proxy's error page, or something else at the API URL. A 408, a 429, a
// 5xx or an unreadable 2xx may pass; any other status would come back the
// same for every message (a wrong URL, a proxy asking for credentials), so
// it is permanent and an operator's to fix.
func httpError(method string, status int, after time.Duration) error {
	transient := status == http.StatusRequestTimeout || status == http.StatusTooManyRequests ||
		status >= 500 || (status >= 200 && status < 300)
	return &otp.SendError{Channel: Channel, Permanent: !transient, Account: !transient, HTTPStatus: status,
		RetryAfter: after, Err: fmt.Errorf("telegram: %s: http %d without a Gateway API answer", method, status)}
}

// maxName bounds the error name kept from an answer: Telegram's are
// words, and anything longer is not one.
const maxName = 64

// scrub makes text from an answer fit for an error, which ends up in
// asynq's task record and in logs: the token cut out should Telegram ever
// echo it, phone numbers masked, no control characters, bounded.
func (c *Client) scrub(s string) string {
	s = strings.ReplaceAll(s, c.cfg.Token, "xxxxx")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = logmask.Mask(s)
	if len(s) > maxName {
		s = strings.ToValidUTF8(s[:maxName], "") + "…"
	}
	return s
}

// retryAfter reads a Retry-After of delay-seconds. Telegram says how long
// to wait in FLOOD_WAIT_<n>; this is for a proxy's 429 or 503.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
