package main

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

// Problem is an RFC 9457 problem document with a stable snake_case code.
type Problem struct {
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Status     int        `json:"status"`
	Detail     string     `json:"detail,omitempty"`
	Code       string     `json:"code"`
	RetryAfter int        `json:"retryAfter,omitempty"` // seconds, also in the Retry-After header
	State      otp.Status `json:"verificationStatus,omitempty"`
	// Limit names the limit behind a 429 rate_limited.
	Limit string `json:"limit,omitempty"`
	// Message repeats Detail on the tutorial routes, whose clients read it.
	Message string `json:"message,omitempty"`
}

func problem(status int, code, detail string) Problem {
	return Problem{
		Type:   "urn:otpd:problem:" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: clip(detail),
		Code:   code,
	}
}

// maxDetail bounds a problem's detail: some quote the request (an unknown
// member's name, a locale), and an answer must not echo 16 KiB back.
const maxDetail = 300

func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// problemFor is the one place where domain errors become HTTP answers.
func problemFor(err error) Problem {
	var (
		input      *otp.InputError
		finished   *otp.FinishedError
		limit      *otp.LimitError
		tooBig     *http.MaxBytesError
		numberType *otp.NumberTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return problem(http.StatusRequestEntityTooLarge, "request_too_large", "request body over "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
	case errors.As(err, &input):
		return problem(http.StatusBadRequest, "invalid_request", input.Detail)
	case errors.Is(err, otp.ErrInvalidInput):
		return problem(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, otp.ErrChannelUnavailable):
		return problem(http.StatusBadRequest, "channel_unavailable", err.Error())
	case errors.Is(err, otp.ErrCountryNotAllowed):
		return problem(http.StatusForbidden, "country_not_allowed", "sending to this country is not allowed (ALLOWED_COUNTRIES, and VOICE_ALLOWED_COUNTRIES for calls)")
	case errors.As(err, &numberType):
		return problem(http.StatusForbidden, "number_type_blocked", numberType.Error())
	case errors.Is(err, otp.ErrNoFraudBlock):
		return problem(http.StatusNotFound, "not_found", "no fraud block of that name is in force")
	case errors.Is(err, otp.ErrSafeListFixed):
		return problem(http.StatusConflict, "safe_list_fixed", "the entry is in FRAUD_SAFE_LIST, which only a restart changes")
	case errors.Is(err, otp.ErrNotMobile):
		return problem(http.StatusBadRequest, "not_mobile_number", "only mobile numbers can receive codes")
	case errors.Is(err, otp.ErrInvalidPhone):
		return problem(http.StatusBadRequest, "invalid_phone_number", "not a valid phone number; use E.164 such as +14155552671")
	case errors.Is(err, otp.ErrNotFound):
		return problem(http.StatusNotFound, "not_found", "no such verification, or none pending for this number")
	case errors.As(err, &finished):
		code := string(finished.Status)
		if finished.Status == otp.StatusMaxAttempts {
			// The lock is over only because the code's time ran out.
			code = string(otp.StatusExpired)
		}
		p := problem(http.StatusNotFound, code, "no pending verification: it is "+string(finished.Status))
		p.State = finished.Status
		return p
	case errors.As(err, &limit):
		var p Problem
		switch limit.Reason {
		case otp.LimitMaxSends:
			p = problem(http.StatusTooManyRequests, "max_send_attempts", "no more sends for this verification; wait until it expires")
		case otp.LimitMaxChecks:
			p = problem(http.StatusTooManyRequests, "max_check_attempts", "too many wrong codes; wait until the verification expires")
		case otp.LimitCooldown:
			p = problem(http.StatusTooManyRequests, "rate_limited", "a code was sent to this number moments ago")
			p.Limit = "to"
		case otp.LimitFraud:
			// 403: not a rate to wait out in seconds, but a block of hours.
			p = problem(http.StatusForbidden, "fraud_blocked", fraudDetail(limit.Fraud))
		case otp.LimitNumberType:
			p = problem(http.StatusForbidden, "number_type_blocked", "numbers of this type cannot receive codes (BLOCKED_NUMBER_TYPES)")
		default:
			p = problem(http.StatusTooManyRequests, "rate_limited", limitDetail[limit.Reason])
			p.Limit = string(limit.Reason)
		}
		p.RetryAfter = retrySeconds(limit.RetryAfter)
		return p
	case errors.Is(err, otp.ErrNotReplicated):
		// Before ErrUnavailable, which it is too.
		p := problem(http.StatusServiceUnavailable, "redis_not_replicated",
			"the send was not acknowledged by enough Redis replicas in time (REDIS_MIN_REPLICAS) and was undone: no code goes out; retry shortly")
		p.RetryAfter = 1
		return p
	case errors.Is(err, otp.ErrUnavailable):
		p := problem(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry shortly")
		p.RetryAfter = 1
		return p
	default:
		return problem(http.StatusInternalServerError, "internal", "internal error")
	}
}

var limitDetail = map[otp.LimitReason]string{
	otp.LimitToCap:        "too many codes sent to this number recently",
	otp.LimitFailedChecks: "too many wrong codes for this number recently",
	otp.LimitClientIP:     "too many requests from this end user's IP",
	otp.LimitAPIKey:       "too many sends with this API key",
	otp.LimitAPIKeyWrites: "too many write requests with this API key",
	otp.LimitIdempotencyKeys: "this API key keeps as many Idempotency-Key answers as it may (API_KEY_IDEMPOTENCY_KEYS): " +
		"nothing ran; retry after Retry-After, or without the key",
	otp.LimitPrefix:         "too many codes sent to numbers in this range",
	otp.LimitCountry:        "the SMS budget for this country is used up for now",
	otp.LimitGlobal:         "the SMS budget is used up for now",
	otp.LimitCallBudget:     "the voice call budget is used up for now",
	otp.LimitTenant:         "this app's own send limit or budget is used up for now",
	otp.LimitTelegramBudget: "the Telegram budget is used up for now",
}

// fraudDetail says what a fraud block refused: a range, or a country
// whose ranges without approvals are blocked.
func fraudDetail(v *otp.FraudVerdict) string {
	if v != nil && v.Block != nil && v.Block.Scope == otp.FraudScopeCountry {
		return "codes to this country are blocked for now, except to number ranges whose recent codes were entered: few of its recent codes were"
	}
	return "codes to this number range are blocked for now: few of its recent codes were entered"
}

// retrySeconds rounds up: a client that waits exactly Retry-After seconds
// must not be refused again.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeProblem(c *gin.Context, p Problem) {
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="otp"`)
	}
	body, _ := json.Marshal(p)
	c.Data(p.Status, "application/problem+json", body)
	c.Abort()
}

func writeError(c *gin.Context, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		c.Error(err) // for the access log
	}
	writeProblem(c, p)
}
