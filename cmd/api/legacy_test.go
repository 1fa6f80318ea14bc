package main

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/otpd/otpd/otp"
)

// The tutorial's answers are bare {"message": …} documents (plus
// verificationId on a send); old clients compare the message text.
type legacyAnswer struct {
	Message        string `json:"message"`
	VerificationID string `json:"verificationId"`
}

func wantLegacy(t testing.TB, w *httptest.ResponseRecorder, status int, message string) legacyAnswer {
	t.Helper()
	wantStatus(t, w, status)
	var a legacyAnswer
	strictDecode(t, w, &a)
	if a.Message != message {
		t.Fatalf("message = %q, want %q", a.Message, message)
	}
	return a
}

// wantLegacyProblem is wantProblem plus the "message" member that the
// tutorial's clients display.
func wantLegacyProblem(t testing.TB, w *httptest.ResponseRecorder, status int, code string) Problem {
	t.Helper()
	p := wantProblem(t, w, status, code)
	if p.Message == "" || p.Message != p.Detail {
		t.Fatalf("legacy problem without message: %s", w.Body)
	}
	return p
}

const (
	sentMessage  = "Verification code sent"
	validMessage = "This is a valid match!"
)

func TestSendCode(t *testing.T) {
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"e164", obj{"phoneNumber": phone}, 202, ""},
		{"national format", obj{"phoneNumber": phoneNational}, 202, ""},
		{"with clientIp", obj{"phoneNumber": phone, "clientIp": "203.0.113.7"}, 202, ""},
		{"bad clientIp", obj{"phoneNumber": phone, "clientIp": "not-an-ip"}, 400, "invalid_request"},
		{"missing phoneNumber", obj{}, 400, "invalid_request"},
		{"invalid phoneNumber", obj{"phoneNumber": "555"}, 400, "invalid_phone_number"},
		{"new API's field name", obj{"to": phone}, 400, "invalid_request"},
		{"phoneNumber as a number", obj{"phoneNumber": 14155552671}, 400, "invalid_request"},
		{"not JSON", "phoneNumber=+14155552671", 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do("POST", "/send-code", tc.body)
			if tc.status != 202 {
				wantLegacyProblem(t, w, tc.status, tc.code)
				return
			}
			a := wantLegacy(t, w, 202, sentMessage)
			if w.Header().Get("Location") != "/v1/verifications/"+a.VerificationID {
				t.Fatalf("Location %q, id %q", w.Header().Get("Location"), a.VerificationID)
			}
			// It is a verification like any other.
			v := wantVerification(t, f.do("GET", "/v1/verifications/"+a.VerificationID, nil), 200)
			if v.To != phone || v.Status != otp.StatusPending || v.SendAttempts != 1 {
				t.Fatalf("%+v", v)
			}
			noCode(t, w.Body.Bytes(), f.liveCode(t, v.ID), v)
		})
	}
}

func TestSendCodeLimits(t *testing.T) {
	f := newFixture(t)
	first := wantLegacy(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 202, sentMessage)
	p := wantLegacyProblem(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 429, "rate_limited")
	if p.RetryAfter != 30 {
		t.Fatalf("Retry-After %d", p.RetryAfter)
	}
	for range testPolicy.MaxSends - 1 {
		f.Clock.Advance(testPolicy.Cooldown)
		if a := wantLegacy(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 202, sentMessage); a.VerificationID != first.VerificationID {
			t.Fatalf("resend made a new verification")
		}
	}
	f.Clock.Advance(testPolicy.Cooldown)
	wantLegacyProblem(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 429, "max_send_attempts")

	// A number locked by wrong codes gets no new code on the old route either.
	f = newFixture(t)
	sent := wantLegacy(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 202, sentMessage)
	bad := wrong(f.liveCode(t, sent.VerificationID))
	for range testPolicy.MaxChecks {
		f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": bad})
	}
	wantLegacyProblem(t, f.do("POST", "/send-code", obj{"phoneNumber": phone}), 429, "max_check_attempts")
}

func TestVerifyCode(t *testing.T) {
	mismatch := "The phone number and the SMS code doesn't match."
	// smsCode builds the request's smsCode from the real code.
	cases := []struct {
		name    string
		smsCode func(code string) any
		before  func(t *testing.T, f *fixture, id, code string)
		status  int
		message string // bare answers
		pcode   string // problem answers
	}{
		{name: "string", smsCode: func(c string) any { return c }, status: 200, message: validMessage},
		{name: "string with spaces", smsCode: func(c string) any { return " " + c + " " }, status: 200, message: validMessage},
		{name: "number", smsCode: func(c string) any { return json.RawMessage(numberOf(c)) }, status: 200, message: validMessage},
		{name: "wrong string", smsCode: func(c string) any { return wrong(c) }, status: 400, message: mismatch},
		{name: "wrong number", smsCode: func(c string) any { return json.RawMessage(numberOf(wrong(c))) }, status: 400, message: mismatch},
		{name: "reused", smsCode: func(c string) any { return c }, status: 400, message: mismatch,
			before: func(t *testing.T, f *fixture, id, code string) {
				wantLegacy(t, f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": code}), 200, validMessage)
			}},
		{name: "expired", smsCode: func(c string) any { return c }, status: 400, message: mismatch,
			before: func(t *testing.T, f *fixture, id, code string) { f.Clock.Advance(testPolicy.TTL) }},
		{name: "canceled", smsCode: func(c string) any { return c }, status: 400, message: mismatch,
			before: func(t *testing.T, f *fixture, id, code string) {
				wantStatus(t, f.do("POST", "/v1/verifications/"+id+"/cancel", nil), 200)
			}},
		{name: "max checks reached", smsCode: func(c string) any { return c }, status: 429, pcode: "max_check_attempts",
			before: func(t *testing.T, f *fixture, id, code string) {
				for range testPolicy.MaxChecks {
					wantLegacy(t, f.do("POST", "/verify-code", obj{"phoneNumber": phone, "smsCode": wrong(code)}), 400, mismatch)
				}
			}},
		{name: "missing", smsCode: func(string) any { return nil }, status: 400, pcode: "invalid_request"},
		{name: "boolean", smsCode: func(string) any { return true }, status: 400, pcode: "invalid_request"},
		{name: "negative", smsCode: func(c string) any { return json.RawMessage("-" + numberOf(c)) }, status: 400, pcode: "invalid_request"},
		{name: "fraction", smsCode: func(c string) any { return json.RawMessage(numberOf(c) + ".5") }, status: 400, pcode: "invalid_request"},
		{name: "beyond uint64", smsCode: func(string) any { return json.RawMessage("123456789012345678901234567890") }, status: 400, pcode: "invalid_request"},
		{name: "too many digits", smsCode: func(c string) any { return c + "1" }, status: 400, pcode: "invalid_request"},
		{name: "object", smsCode: func(string) any { return obj{"code": "1"} }, status: 400, pcode: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			v := f.start(t, phone)
			code := f.liveCode(t, v.ID)
			if tc.before != nil {
				tc.before(t, f, v.ID, code)
			}
			body := obj{"phoneNumber": phoneNational}
			if c := tc.smsCode(code); c != nil {
				body["smsCode"] = c
			}
			w := f.do("POST", "/verify-code", body)
			if tc.pcode != "" {
				wantLegacyProblem(t, w, tc.status, tc.pcode)
				return
			}
			wantLegacy(t, w, tc.status, tc.message)
			noCode(t, w.Body.Bytes(), code, v)
		})
	}
}

// numberOf writes a code as a JSON number: "012345" becomes 12345.
func numberOf(code string) string {
	n, err := strconv.ParseUint(code, 10, 64)
	if err != nil {
		panic(err)
	}
	return strconv.FormatUint(n, 10)
}

// A code with a leading zero, sent as a JSON number, loses the zero on the
// wire; the service must put it back. Codes are random, so send until one
// starts with 0 (one in ten does; 300 tries fail with odds of 1e-14).
func TestVerifyCodeNumberWithLeadingZero(t *testing.T) {
	f := newFixture(t)
	var code string
	for range 300 {
		v := f.start(t, phone)
		if code = f.liveCode(t, v.ID); code[0] == '0' {
			break
		}
		wantStatus(t, f.do("POST", "/v1/verifications/"+v.ID+"/cancel", nil), 200)
		f.Clock.Advance(testPolicy.Cooldown)
	}
	if code[0] != '0' {
		t.Fatal("no code with a leading zero in 300 sends")
	}
	raw := `{"phoneNumber":"` + phone + `","smsCode":` + numberOf(code) + `}`
	if len(numberOf(code)) >= codeLength {
		t.Fatalf("test bug: %s is not shorter than the code %s", numberOf(code), code)
	}
	wantLegacy(t, f.do("POST", "/verify-code", raw), 200, validMessage)
}

func TestVerifyCodeUnknownNumber(t *testing.T) {
	f := newFixture(t)
	w := f.do("POST", "/verify-code", obj{"phoneNumber": otherPhone, "smsCode": "123456"})
	wantLegacy(t, w, 400, "The phone number and the SMS code doesn't match.")
	wantLegacyProblem(t, f.do("POST", "/verify-code", obj{"phoneNumber": "nope", "smsCode": "123456"}), 400, "invalid_phone_number")
	wantLegacyProblem(t, f.do("POST", "/verify-code", obj{"smsCode": "123456"}), 400, "invalid_request")
}
