package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/otp"
)

func TestDecodeBytes(t *testing.T) {
	cases := []struct {
		name string
		body string
		want checkRequest
		err  string // substring of the detail; "" means success
	}{
		{"all fields", `{"id":"a","to":"b","code":"c"}`, checkRequest{ID: "a", To: "b", Code: "c"}, ""},
		{"surrounding whitespace", " \r\n{\"code\":\"1\"}\n ", checkRequest{Code: "1"}, ""},
		{"null member", `{"to":null}`, checkRequest{}, ""},
		{"empty", ``, checkRequest{}, "must be a JSON object"},
		{"array", `[]`, checkRequest{}, "must be a JSON object"},
		{"null", `null`, checkRequest{}, "must be a JSON object"},
		{"syntax", `{"to" 1}`, checkRequest{}, "malformed JSON at byte"},
		{"truncated", `{"to":"`, checkRequest{}, "malformed JSON"},
		{"unknown field", `{"phone":"x"}`, checkRequest{}, `unknown field "phone"`},
		{"wrong type", `{"to":123}`, checkRequest{}, `field "to" must be a string`},
		{"second object", `{}{}`, checkRequest{}, "single JSON object"},
		{"trailing bracket", `{}]`, checkRequest{}, "single JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got checkRequest
			err := decodeBytes([]byte(tc.body), &got)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("decode = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var ie *otp.InputError
			if !errors.As(err, &ie) || !strings.Contains(ie.Detail, tc.err) {
				t.Fatalf("decode error = %v, want an InputError about %q", err, tc.err)
			}
		})
	}
}

func TestLegacyCode(t *testing.T) {
	cases := []struct {
		raw, want string
		ok        bool
	}{
		{`"123456"`, "123456", true},
		{`" 012345 "`, "012345", true},
		{`123456`, "123456", true},
		{`12345`, "012345", true}, // the leading zero a JSON number cannot carry
		{`0`, "000000", true},
		{` 42 `, "000042", true},
		{`1234567`, "1234567", true}, // too long: refused later, by the service
		{``, "", false},
		{`null`, "", false},
		{`true`, "", false},
		{`-1`, "", false},
		{`1.0`, "", false},
		{`1e5`, "", false},
		{`99999999999999999999999`, "", false},
		{`"\u12"`, "", false},
		{`{}`, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := legacyCode(json.RawMessage(tc.raw), codeLength)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("legacyCode(%s) = %q, %v; want %q ok=%v", tc.raw, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, otp.ErrInvalidInput) {
				t.Fatalf("error %v is not an input error", err)
			}
		})
	}
}

// nopQueue accepts every job: the fuzz target is about decoding, and an
// asynq round trip per input would only slow it down.
type nopQueue struct{}

func (nopQueue) EnqueueDelivery(context.Context, otp.DeliveryJob) error { return nil }
func (nopQueue) ScheduleStep(context.Context, string, int, time.Duration) error {
	return nil
}
func (nopQueue) ScheduleBlockEnd(context.Context, string, time.Time) error { return nil }
func (nopQueue) EnqueueRevoke(context.Context, string, string) error       { return nil }

// FuzzDecodeRequest throws arbitrary bytes at every JSON route through the
// real router and real Redis: whatever the body, the answer is a JSON
// document and never a 5xx (a panic would be a 500 from recoverProblem).
func FuzzDecodeRequest(f *testing.F) {
	seeds := []string{
		`{"to":"+14155552671"}`,
		`{"to":"(415) 555-2671","channel":"sms"}`,
		`{"to":"+14155552671","channel":"voice"}`,
		`{"id":"VE0123456789ab0123456789abcdef0123","code":"123456"}`,
		`{"to":"+14155552671","code":"123456"}`,
		`{"id":"VE0123456789ab0123456789abcdef0123","to":"+14155552671","code":"123456"}`,
		`{"phoneNumber":"+14155552671"}`,
		`{"phoneNumber":"+14155552671","smsCode":12345}`,
		`{"phoneNumber":"+14155552671","smsCode":"012345"}`,
		`{"phoneNumber":"+14155552671","smsCode":-0}`,
		`{"phoneNumber":"+14155552671","smsCode":1e400}`,
		`{"to":"+1 415 555 2671 ext. 1234"}`,
		`{"to":"+8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8"}`,
		`{"to":"tel:+1-415-555-2671;phone-context=example.com"}`,
		`{"to":"\u0000\ud800"}`,
		"{\"to\":\"\xff\xfe\"}",
		`{"to":123}`,
		`{"to":["+14155552671"]}`,
		`{"to":{"$gt":""}}`,
		`[]`,
		`null`,
		``,
		`{}{}`,
		`{"to":"+14155552671"}garbage`,
		`{"__proto__":{}}`,
		`{"to":"` + strings.Repeat("9", 1000) + `"}`,
		strings.Repeat(`{"a":`, 100),
		strings.Repeat("[", 20000),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// One router for every input: building it (and flushing Redis) per input
	// would dominate the cost of an iteration.
	fx := newFixtureWith(f, testPolicy, discardLogger())
	h := newHandler(fx.deps(discardLogger(), fx.With(testPolicy, func(d *otp.Deps) { d.Queue = nopQueue{} })), nil)
	paths := []string{"/v1/verifications", "/v1/verifications/check", "/send-code", "/verify-code"}

	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range paths {
			w := serve(h, "POST", path, body)
			if w.Code >= http.StatusInternalServerError {
				t.Fatalf("POST %s %q: %d %s", path, body, w.Code, w.Body)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("POST %s %q: body is not JSON: %q", path, body, w.Body)
			}
			switch ct := w.Header().Get("Content-Type"); {
			case w.Code < 400:
				if !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("POST %s %q: %d with Content-Type %q", path, body, w.Code, ct)
				}
			case ct == "application/problem+json":
				var p Problem
				if err := json.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&p); err != nil || p.Code == "" || p.Status != w.Code {
					t.Fatalf("POST %s %q: bad problem %s", path, body, w.Body)
				}
			case path == "/verify-code" && w.Code == http.StatusBadRequest && strings.Contains(w.Body.String(), mismatch):
				// The tutorial's bare answer to a code that does not match.
			default:
				t.Fatalf("POST %s %q: %d is neither a problem nor the tutorial's mismatch: %s", path, body, w.Code, w.Body)
			}
		}
	})
}
