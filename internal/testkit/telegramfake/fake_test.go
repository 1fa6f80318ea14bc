package telegramfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/telegramfake"
)

const token = "12345:gateway-token"

// envelope is every answer of the Gateway API.
type envelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

func validSend() map[string]any {
	return map[string]any{"phone_number": "+14155552671", "code": "123456", "ttl": 300}
}

// post sends params as JSON, as the telegram package does, but raw, so that
// the fake alone decides what is valid.
func post(t *testing.T, base, method, tok string, params map[string]any) (int, envelope) {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/"+method, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, envelope) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e envelope
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("undecodable answer: %v", err)
	}
	return resp.StatusCode, e
}

func TestSendValidation(t *testing.T) {
	set := func(kv ...any) func(map[string]any) {
		return func(p map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(p, kv[i].(string))
				} else {
					p[kv[i].(string)] = kv[i+1]
				}
			}
		}
	}
	for _, tc := range []struct {
		name  string
		mod   func(map[string]any)
		token string // token when empty
		want  string // the error; "" accepted
	}{
		{name: "valid", mod: set()},
		{name: "no ttl", mod: set("ttl", nil)},
		{name: "ttl as a string", mod: set("ttl", "300")},

		{name: "phone missing", mod: set("phone_number", nil), want: "PHONE_NUMBER_INVALID"},
		{name: "phone national", mod: set("phone_number", "4155552671"), want: "PHONE_NUMBER_INVALID"},
		{name: "phone formatted", mod: set("phone_number", "+1 415 555 2671"), want: "PHONE_NUMBER_INVALID"},
		{name: "phone 16 digits", mod: set("phone_number", "+1415555267100000"), want: "PHONE_NUMBER_INVALID"},

		{name: "code 4 digits", mod: set("code", "1234")},
		{name: "code 8 digits", mod: set("code", "12345678")},
		{name: "code 3 digits", mod: set("code", "123"), want: "CODE_INVALID"},
		{name: "code 9 digits", mod: set("code", "123456789"), want: "CODE_INVALID"},
		{name: "code letters", mod: set("code", "12a456"), want: "CODE_INVALID"},
		{name: "code_length instead", mod: set("code", nil, "code_length", 6)},
		{name: "code_length 9", mod: set("code", nil, "code_length", 9), want: "CODE_LENGTH_INVALID"},
		{name: "neither code nor length", mod: set("code", nil), want: "CODE_LENGTH_REQUIRED"},

		{name: "ttl 30", mod: set("ttl", 30)},
		{name: "ttl 3600", mod: set("ttl", 3600)},
		{name: "ttl 29", mod: set("ttl", 29), want: "TTL_INVALID"},
		{name: "ttl 3601", mod: set("ttl", 3601), want: "TTL_INVALID"},
		{name: "ttl fraction", mod: set("ttl", 30.5), want: "TTL_INVALID"},

		{name: "callback https", mod: set("callback_url", "https://otp.example/v1/webhooks/telegram?t=1")},
		{name: "callback http loopback", mod: set("callback_url", "http://127.0.0.1:8080/cb")},
		{name: "callback 256 bytes", mod: set("callback_url", "https://otp.example/"+strings.Repeat("a", 256-20))},
		{name: "callback 257 bytes", mod: set("callback_url", "https://otp.example/"+strings.Repeat("a", 257-20)), want: "CALLBACK_URL_INVALID"},
		{name: "callback http elsewhere", mod: set("callback_url", "http://otp.example/cb"), want: "CALLBACK_URL_INVALID"},
		{name: "callback relative", mod: set("callback_url", "/cb"), want: "CALLBACK_URL_INVALID"},

		{name: "payload 128 bytes", mod: set("payload", strings.Repeat("p", 128))},
		{name: "payload 129 bytes", mod: set("payload", strings.Repeat("p", 129)), want: "PAYLOAD_INVALID"},

		{name: "sender owned", mod: set("sender_username", "OtpdCodes")},
		{name: "sender owned, other case", mod: set("sender_username", "otpdcodes")},
		{name: "sender not owned", mod: set("sender_username", "SomeoneElse"), want: "SENDER_NOT_OWNED"},
		{name: "sender malformed", mod: set("sender_username", "@otpd"), want: "SENDER_USERNAME_INVALID"},
		{name: "request_id from nowhere", mod: set("request_id", "abc"), want: "REQUEST_ID_INVALID"},

		{name: "wrong token", mod: set(), token: "other", want: "ACCESS_TOKEN_INVALID"},
		{name: "no token", mod: set(), token: "-", want: "ACCESS_TOKEN_REQUIRED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := telegramfake.Start(token)
			defer fake.Close()
			fake.OwnSenders("OtpdCodes")
			p := validSend()
			tc.mod(p)
			tok := token
			switch tc.token {
			case "-":
				tok = ""
			case "":
			default:
				tok = tc.token
			}
			// Telegram does not document the status of an ok:false answer;
			// the fake answers 200 throughout.
			status, e := post(t, fake.URL, telegramfake.MethodSend, tok, p)
			if status != http.StatusOK || e.OK != (tc.want == "") || e.Error != tc.want {
				t.Fatalf("answer %d %+v, want error %q", status, e, tc.want)
			}
			reqs, sent := fake.Requests(), fake.Sent()
			if len(reqs) != 1 || reqs[0].Error != tc.want || (len(sent) == 1) != (tc.want == "") {
				t.Fatalf("requests %+v, sent %+v", reqs, sent)
			}
		})
	}
}

func TestAcceptedSendAnswersARequestStatus(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	p := validSend()
	p["payload"] = "attempt-ref"
	_, e := post(t, fake.URL, telegramfake.MethodSend, token, p)
	var rs struct {
		RequestID        string   `json:"request_id"`
		PhoneNumber      string   `json:"phone_number"`
		RequestCost      float64  `json:"request_cost"`
		RemainingBalance *float64 `json:"remaining_balance"`
		Payload          string   `json:"payload"`
		DeliveryStatus   struct {
			Status    string `json:"status"`
			UpdatedAt int64  `json:"updated_at"`
		} `json:"delivery_status"`
	}
	if err := json.Unmarshal(e.Result, &rs); err != nil || !e.OK {
		t.Fatalf("%+v: %v", e, err)
	}
	sent := fake.Sent()
	if len(sent) != 1 || rs.RequestID == "" || sent[0].RequestID != rs.RequestID || sent[0].Code != "123456" ||
		rs.PhoneNumber != "+14155552671" || rs.Payload != "attempt-ref" || rs.RequestCost != telegramfake.Cost ||
		rs.RemainingBalance == nil || *rs.RemainingBalance != 100-telegramfake.Cost ||
		rs.DeliveryStatus.Status != "sent" || time.Since(time.Unix(rs.DeliveryStatus.UpdatedAt, 0)) > time.Minute {
		t.Fatalf("result %+v, sent %+v", rs, sent)
	}
	want := map[string]string{"phone_number": "+14155552671", "code": "123456", "ttl": "300", "payload": "attempt-ref"}
	if !maps.Equal(sent[0].Params, want) {
		t.Fatalf("params %v, want %v", sent[0].Params, want)
	}
}

// The page allows the query, a form or JSON, the token in a header or as
// access_token, and method names in any case.
func TestParameterForms(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	form := url.Values{"phone_number": {"+14155552671"}, "code": {"1234"}, "access_token": {token}}
	req, _ := http.NewRequest(http.MethodPost, fake.URL+"/SENDVERIFICATIONMESSAGE", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, e := do(t, req); !e.OK {
		t.Fatalf("form: %+v", e)
	}
	req, _ = http.NewRequest(http.MethodGet, fake.URL+"/sendverificationmessage?"+form.Encode(), nil)
	if _, e := do(t, req); !e.OK {
		t.Fatalf("query: %+v", e)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Method != telegramfake.MethodSend || reqs[1].Method != telegramfake.MethodSend ||
		reqs[0].Params["access_token"] != "" {
		t.Fatalf("requests %+v", reqs)
	}
	if _, e := post(t, fake.URL, "sendMessage", token, validSend()); e.Error != "UNKNOWN_METHOD" {
		t.Fatalf("unknown method: %+v", e)
	}
}

func TestScript(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.Script(telegramfake.Response{Error: "FLOOD_WAIT_3"},
		telegramfake.Response{Status: 429, Error: "FLOOD_WAIT_7", RetryAfter: "7"},
		telegramfake.Response{Status: 502})
	// A malformed request is refused before the script, which waits.
	bad := validSend()
	bad["code"] = "1"
	if _, e := post(t, fake.URL, telegramfake.MethodSend, token, bad); e.Error != "CODE_INVALID" {
		t.Fatalf("invalid first: %+v", e)
	}
	if status, e := post(t, fake.URL, telegramfake.MethodSend, token, validSend()); status != 200 || e.Error != "FLOOD_WAIT_3" {
		t.Fatalf("first scripted: %d %+v", status, e)
	}
	b, _ := json.Marshal(validSend())
	for _, want := range []struct {
		status           int
		retryAfter, body string
	}{{429, "7", `{"ok":false,"error":"FLOOD_WAIT_7"}` + "\n"}, {502, "", "Bad Gateway"}} {
		req, _ := http.NewRequest(http.MethodPost, fake.URL+"/sendVerificationMessage", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.retryAfter || string(body) != want.body {
			t.Fatalf("%d %q %q, want %+v", resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
		}
	}
	if _, e := post(t, fake.URL, telegramfake.MethodSend, token, validSend()); !e.OK {
		t.Fatalf("after the script: %+v", e)
	}
	if n := len(fake.Sent()); n != 1 {
		t.Fatalf("%d sent, want the last one only", n)
	}
}

func TestScriptedDelayEndsWithTheClient(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.Script(telegramfake.Response{Delay: time.Minute})
	b, _ := json.Marshal(validSend())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fake.URL+"/sendVerificationMessage", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("delay: %v after %v", err, time.Since(start))
	}
}

func TestWithoutTelegramAndBalance(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	fake.WithoutTelegram("+14155550000")
	fake.SetBalance(1.5 * telegramfake.Cost)
	p := validSend()
	p["phone_number"] = "+14155550000"
	if _, e := post(t, fake.URL, telegramfake.MethodSend, token, p); e.Error != "PHONE_NUMBER_NOT_FOUND" {
		t.Fatalf("number without Telegram: %+v", e)
	}
	// The refused number cost nothing: the balance still pays for one.
	if _, e := post(t, fake.URL, telegramfake.MethodSend, token, validSend()); !e.OK {
		t.Fatalf("paid send: %+v", e)
	}
	if _, e := post(t, fake.URL, telegramfake.MethodSend, token, validSend()); e.Error != "BALANCE_NOT_ENOUGH" {
		t.Fatalf("unpaid send: %+v", e)
	}
	if n := len(fake.Sent()); n != 1 {
		t.Fatalf("%d sent", n)
	}
}

func TestRevoke(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	_, e := post(t, fake.URL, telegramfake.MethodSend, token, validSend())
	id := fake.Sent()[0].RequestID
	for _, tc := range []struct {
		id, want string
	}{{"", "REQUEST_ID_REQUIRED"}, {"nope", "REQUEST_ID_INVALID"}, {id, ""}} {
		p := map[string]any{}
		if tc.id != "" {
			p["request_id"] = tc.id
		}
		_, e = post(t, fake.URL, telegramfake.MethodRevoke, token, p)
		if e.Error != tc.want || (tc.want == "" && string(e.Result) != "true") {
			t.Fatalf("revoke %q: %+v", tc.id, e)
		}
	}
	if r := fake.Revoked(); len(r) != 1 || r[0] != id {
		t.Fatalf("revoked %v", r)
	}
}

// The vector was computed apart from Go (Python's hmac and hashlib).
func TestSignKnownVector(t *testing.T) {
	const want = "308005d6063ebcace5ff5157a3f85694ac5c87324b057a4693da42f395f3fb79"
	if got := telegramfake.Sign("tok", "1700000000", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// receiver records the reports posted to it and answers status.
type receiver struct {
	*httptest.Server
	got chan *http.Request
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{got: make(chan *http.Request, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.got <- req
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func TestReport(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	rcv := newReceiver(t, http.StatusOK)
	p := validSend()
	p["callback_url"], p["payload"] = rcv.URL+"/v1/webhooks/telegram", "attempt-ref"
	post(t, fake.URL, telegramfake.MethodSend, token, p)
	id := fake.Sent()[0].RequestID

	status, err := fake.Report(context.Background(), id, telegramfake.StatusExpired)
	if err != nil || status != http.StatusOK {
		t.Fatalf("report: %d %v", status, err)
	}
	req := <-rcv.got
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get("X-Request-Timestamp")
	if req.Method != http.MethodPost || req.URL.Path != "/v1/webhooks/telegram" ||
		req.Header.Get("X-Request-Signature") != telegramfake.Sign(token, ts, body) {
		t.Fatalf("%s %s, headers %v", req.Method, req.URL, req.Header)
	}
	var rs map[string]any
	if err := json.Unmarshal(body, &rs); err != nil {
		t.Fatal(err)
	}
	ds, _ := rs["delivery_status"].(map[string]any)
	if rs["request_id"] != id || rs["payload"] != "attempt-ref" || rs["phone_number"] != "+14155552671" ||
		rs["is_refunded"] != true || ds["status"] != "expired" || ds["updated_at"] == nil {
		t.Fatalf("report body %s", body)
	}

	// The receiver's answer comes back, whatever it is.
	p["callback_url"] = newReceiver(t, http.StatusInternalServerError).URL
	post(t, fake.URL, telegramfake.MethodSend, token, p)
	if status, err := fake.Report(context.Background(), fake.Sent()[1].RequestID, "read"); err != nil || status != 500 {
		t.Fatalf("failing receiver: %d %v", status, err)
	}
}

func TestReportRefuses(t *testing.T) {
	fake := telegramfake.Start(token)
	defer fake.Close()
	ids := map[string]string{}
	for name, cb := range map[string]string{"none": "", "elsewhere": "https://otp.example/cb", "loopback": "http://127.0.0.1:1/cb"} {
		p := validSend()
		if cb != "" {
			p["callback_url"] = cb
		}
		post(t, fake.URL, telegramfake.MethodSend, token, p)
		sent := fake.Sent()
		ids[name] = sent[len(sent)-1].RequestID
	}
	for _, tc := range []struct{ name, id, status string }{
		{"unknown request", "nope", "sent"},
		{"no callback_url", ids["none"], "sent"},
		{"not loopback", ids["elsewhere"], "sent"},
		{"unknown status", ids["loopback"], "failed"},
	} {
		if _, err := fake.Report(context.Background(), tc.id, tc.status); err == nil {
			t.Errorf("%s: reported", tc.name)
		}
	}
}
