package twiliofake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "authtoken0123456789"
	mg    = "MG0123456789abcdef0123456789abcdef"
	hx    = "HX0123456789abcdef0123456789abcdef"
)

func validForm() url.Values {
	return url.Values{"To": {"+14155552671"}, "From": {"+15005550006"}, "Body": {"code 123456"}}
}

// post sends form as twilio-go would, but raw, so that the fake alone
// decides what is valid.
func post(t *testing.T, base, path, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("undecodable answer: %v", err)
	}
	return resp.StatusCode, body
}

func messagesPath(account string) string { return "/2010-04-01/Accounts/" + account + "/Messages.json" }

func TestRequestValidation(t *testing.T) {
	set := func(kv ...string) func(url.Values) {
		return func(f url.Values) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					f.Del(kv[i])
				} else {
					f.Set(kv[i], kv[i+1])
				}
			}
		}
	}
	for _, tc := range []struct {
		name    string
		mod     func(url.Values)
		account string // path AccountSid; sid when empty
		pass    string // auth token; token when empty
		status  int
		code    int // Twilio code; 0 for a 201
	}{
		{name: "valid", mod: set(), status: 201},
		{name: "valid messaging service", mod: set("From", "", "MessagingServiceSid", mg), status: 201},
		{name: "messaging service MG0123", mod: set("From", "", "MessagingServiceSid", "MG0123"), status: 400, code: 21705},
		{name: "messaging service is an account SID", mod: set("MessagingServiceSid", sid), status: 400, code: 21705},

		{name: "callback https", mod: set("StatusCallback", "https://otp.example/v1/webhooks/twilio/status?a=1&v=x"), status: 201},
		{name: "callback loopback IP", mod: set("StatusCallback", "http://127.0.0.1:8080/cb"), status: 201},
		{name: "callback localhost", mod: set("StatusCallback", "http://localhost:8080/cb"), status: 201},
		{name: "callback not a URL", mod: set("StatusCallback", "not a url"), status: 400, code: 21609},
		{name: "callback relative", mod: set("StatusCallback", "/v1/webhooks/twilio/status"), status: 400, code: 21609},
		{name: "callback ftp", mod: set("StatusCallback", "ftp://otp.example/cb"), status: 400, code: 21609},
		{name: "callback underscore host", mod: set("StatusCallback", "https://otp_api.example/cb"), status: 400, code: 21609},
		{name: "callback no host", mod: set("StatusCallback", "https:///cb"), status: 400, code: 21609},
		{name: "callback bad escape", mod: set("StatusCallback", "https://otp.example/cb?v=%zz"), status: 400, code: 21609},

		{name: "validity abc", mod: set("ValidityPeriod", "abc"), status: 400, code: 90014},
		{name: "validity 0", mod: set("ValidityPeriod", "0"), status: 400, code: 90014},
		{name: "validity 1.5", mod: set("ValidityPeriod", "1.5"), status: 400, code: 90014},
		{name: "validity 36001", mod: set("ValidityPeriod", "36001"), status: 400, code: 90007},
		{name: "validity 1", mod: set("ValidityPeriod", "1"), status: 201},
		{name: "validity 36000", mod: set("ValidityPeriod", "36000"), status: 201},

		{name: "To missing", mod: set("To", ""), status: 400, code: 21604},
		{name: "To national", mod: set("To", "4155552671"), status: 400, code: 21211},
		{name: "To formatted", mod: set("To", "+1 415 555 2671"), status: 400, code: 21211},
		{name: "To too long", mod: set("To", "+1415555267100000"), status: 400, code: 21211},

		{name: "whatsapp to whatsapp", mod: set("To", "whatsapp:+14155552671", "From", "whatsapp:+15005550006"), status: 201},
		{name: "whatsapp To, SMS From", mod: set("To", "whatsapp:+14155552671"), status: 400, code: 21910},
		{name: "SMS To, whatsapp From", mod: set("From", "whatsapp:+15005550006"), status: 400, code: 21910},
		{name: "whatsapp To, messaging service", mod: set("To", "whatsapp:+14155552671", "From", "", "MessagingServiceSid", mg), status: 201},
		{name: "whatsapp From national", mod: set("To", "whatsapp:+14155552671", "From", "whatsapp:15005550006"), status: 400, code: 21212},
		{name: "whatsapp template instead of Body", mod: set("To", "whatsapp:+14155552671", "From", "whatsapp:+15005550006",
			"Body", "", "ContentSid", hx, "ContentVariables", `{"1":"123456","2":"Acme"}`), status: 201},
		{name: "whatsapp template without variables", mod: set("To", "whatsapp:+14155552671", "From", "whatsapp:+15005550006",
			"Body", "", "ContentSid", hx), status: 201},
		{name: "ContentVariables number value", mod: set("Body", "", "ContentSid", hx, "ContentVariables", `{"1":123456}`), status: 400, code: 21656},

		{name: "no sender", mod: set("From", ""), status: 400, code: 21603},
		{name: "From bad", mod: set("From", "+0123"), status: 400, code: 21212},
		{name: "From alphanumeric", mod: set("From", "OTPd Inc"), status: 201},
		{name: "From alphanumeric too long", mod: set("From", "OTPdServiceX1"), status: 400, code: 21212},
		{name: "From short code", mod: set("From", "12345"), status: 201},

		{name: "Body missing", mod: set("Body", ""), status: 400, code: 21602},
		{name: "Body too long", mod: set("Body", strings.Repeat("x", 1601)), status: 400, code: 21617},
		{name: "ContentSid instead of Body", mod: set("Body", "", "ContentSid", hx, "ContentVariables", `{"1":"123456"}`), status: 201},
		{name: "ContentSid bad", mod: set("ContentSid", "HX0123"), status: 400, code: 21655},
		{name: "ContentVariables not an object", mod: set("ContentSid", hx, "ContentVariables", `["123456"]`), status: 400, code: 21656},
		{name: "ContentVariables without ContentSid", mod: set("ContentVariables", `{"1":"x"}`), status: 400, code: 21654},

		{name: "ApplicationSid bad", mod: set("ApplicationSid", "AP12"), status: 400, code: 400},
		{name: "boolean bad", mod: set("SmartEncoded", "yes"), status: 400, code: 400},
		{name: "boolean ok", mod: set("SmartEncoded", "true", "SendAsMms", "False"), status: 201},
		{name: "Attempt not integer", mod: set("Attempt", "2x"), status: 400, code: 400},
		{name: "enum bad", mod: set("RiskCheck", "off"), status: 400, code: 400},
		{name: "enum ok", mod: set("RiskCheck", "disable", "ContentRetention", "discard"), status: 201},
		{name: "ScheduleType bad", mod: set("ScheduleType", "later"), status: 400, code: 35126},
		{name: "SendAt not date-time", mod: set("SendAt", "tomorrow"), status: 400, code: 35114},
		{name: "MediaUrl instead of Body", mod: func(f url.Values) { f.Del("Body"); f.Add("MediaUrl", "https://otp.example/a.png") }, status: 201},
		{name: "MediaUrl eleven", mod: func(f url.Values) {
			for range 11 {
				f.Add("MediaUrl", "https://otp.example/a.png")
			}
		}, status: 400, code: 21623},

		{name: "AccountSid malformed", mod: set(), account: "AC0123", status: 404, code: 20404},
		{name: "AccountSid other account", mod: set(), account: "AC" + strings.Repeat("f", 32), status: 401, code: 20003},
		{name: "wrong token", mod: set(), pass: "othertoken", status: 401, code: 20003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := twiliofake.Start(sid, token)
			defer fake.Close()
			form := validForm()
			tc.mod(form)
			account, pass := sid, token
			if tc.account != "" {
				account = tc.account
			}
			if tc.pass != "" {
				pass = tc.pass
			}

			status, body := post(t, fake.URL, messagesPath(account), sid, pass, form)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.code == 0 {
				acc := fake.Accepted()
				if sid, _ := body["sid"].(string); !strings.HasPrefix(sid, "SM") || len(acc) != 1 ||
					acc[0].SID != sid || acc[0].Kind != twiliofake.KindMessage || len(fake.Calls()) != 0 {
					t.Fatalf("body %v, accepted %+v", body, acc)
				}
				return
			}
			if body["code"] != float64(tc.code) || body["status"] != float64(tc.status) ||
				body["more_info"] == "" || body["message"] == "" {
				t.Fatalf("error body %v, want code %d", body, tc.code)
			}
			// A refusal of the request's content is recorded, as a 400 that
			// sent nothing; a refusal of the URL or credentials is not.
			reqs := fake.Requests()
			recorded := tc.status == http.StatusBadRequest
			if len(fake.Accepted()) != 0 || (len(reqs) == 1) != recorded || (recorded && reqs[0].Status != 400) {
				t.Fatalf("requests %+v", reqs)
			}
		})
	}
}

// A scripted answer is for a request Twilio would have taken: an invalid
// one is refused before it and leaves it for the next.
func TestValidationComesBeforeTheScript(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.Script(twiliofake.Response{Status: 503, Code: 20503})
	bad := validForm()
	bad.Set("ValidityPeriod", "0")
	if status, _ := post(t, fake.URL, messagesPath(sid), sid, token, bad); status != 400 {
		t.Fatalf("invalid request: %d", status)
	}
	if status, body := post(t, fake.URL, messagesPath(sid), sid, token, validForm()); status != 503 || body["code"] != float64(20503) {
		t.Fatalf("valid request after it: %d %v", status, body)
	}
}

// TestOutage: while an outage is on, every valid request fails with its
// status and nothing is accepted; a script waits for the end; a request
// the fake would refuse anyway still gets its 400.
func TestOutage(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	fake.SetOutage(503)
	fake.Script(twiliofake.Response{Status: 429, Code: 20429})
	for i := 0; i < 3; i++ {
		if status, body := post(t, fake.URL, messagesPath(sid), sid, token, validForm()); status != 503 || body["code"] != float64(20503) {
			t.Fatalf("request %d during the outage: %d %v", i, status, body)
		}
	}
	bad := validForm()
	bad.Del("To")
	if status, _ := post(t, fake.URL, messagesPath(sid), sid, token, bad); status != 400 {
		t.Fatalf("invalid request during the outage: %d", status)
	}
	if n := len(fake.Accepted()); n != 0 || fake.AcceptedCount() != 0 {
		t.Fatalf("accepted during the outage: %d", n)
	}
	if got := len(fake.Requests()); got != 4 || fake.Requests()[0].Status != 503 {
		t.Fatalf("recorded %d requests, first %+v", got, fake.Requests()[0])
	}
	fake.SetOutage(0)
	if status, _ := post(t, fake.URL, messagesPath(sid), sid, token, validForm()); status != 429 {
		t.Fatalf("first request after the outage: %d, want the scripted 429", status)
	}
	if status, _ := post(t, fake.URL, messagesPath(sid), sid, token, validForm()); status != 201 {
		t.Fatalf("second request after the outage: %d", status)
	}
	if n := len(fake.Accepted()); n != 1 {
		t.Fatalf("accepted after the outage: %d", n)
	}
}

// TestDropAbandoned: a request whose client goes away before the answer
// is accepted by default (Twilio had it in full) and not with
// DropAbandoned.
func TestDropAbandoned(t *testing.T) {
	for _, drop := range []bool{false, true} {
		fake := twiliofake.Start(sid, token)
		fake.DropAbandoned(drop)
		fake.SetLatency(time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fake.URL+messagesPath(sid), strings.NewReader(validForm().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(sid, token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("drop=%v: the request was answered %d within its timeout", drop, resp.StatusCode)
		}
		cancel()
		reqs, err := fake.WaitRequests(context.Background(), 1)
		fake.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusCreated
		if drop {
			want = twiliofake.StatusAbandoned
		}
		if reqs[0].Status != want || (len(fake.Accepted()) == 1) == drop {
			t.Errorf("drop=%v: recorded %d, accepted %d; want %d", drop, reqs[0].Status, len(fake.Accepted()), want)
		}
	}
}

func TestStartRefusesToySIDs(t *testing.T) {
	for _, s := range []string{"AC123", "ACtest", "MG0123456789abcdef0123456789abcdef", "AC0123456789abcdef0123456789abcdeg"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Start(%q) did not panic", s)
				}
			}()
			twiliofake.Start(s, token).Close()
		}()
	}
}

// The acceptance example: a toy messaging service SID fails through
// the real twilio-go sender as it would against Twilio, permanently.
func TestSenderWithToyMessagingServiceFails(t *testing.T) {
	for _, tc := range []struct {
		service string
		code    int // 0: sent
	}{
		{"MG0123", 21705},
		{mg, 0},
	} {
		t.Run(tc.service, func(t *testing.T) {
			fake := twiliofake.Start(sid, token)
			defer fake.Close()
			s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, MessagingServiceSID: tc.service,
				APIURL: fake.URL, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), otp.Message{To: "+14155552671", Body: "code 123456", ValidFor: time.Minute})
			if tc.code == 0 {
				if err != nil || len(fake.Accepted()) != 1 {
					t.Fatalf("send: %v, accepted %v", err, fake.Accepted())
				}
				return
			}
			var se *otp.SendError
			if !errors.As(err, &se) || !se.Permanent || se.Code != tc.code || se.HTTPStatus != 400 {
				t.Fatalf("got %#v (%v), want a permanent SendError with code %d", se, err, tc.code)
			}
			if len(fake.Accepted()) != 0 {
				t.Fatalf("accepted %v", fake.Accepted())
			}
		})
	}
}

const sayCode = `<Response><Say language="en-US" voice="Google.en-US-Standard-A">Your Acme verification code is: 1, 2, 3, 4, 5, 6.</Say></Response>`

var callSIDRe = regexp.MustCompile(`^CA[0-9a-f]{32}$`)

func callForm() url.Values {
	return url.Values{"To": {"+14155552671"}, "From": {"+15005550006"}, "Twiml": {sayCode}}
}

func callsPath(account string) string { return "/2010-04-01/Accounts/" + account + "/Calls.json" }

// twimlOf returns a well-formed document of exactly n characters.
func twimlOf(n int) string {
	const open, closing = "<Response><Say>", "</Say></Response>"
	return open + strings.Repeat("x", n-len(open)-len(closing)) + closing
}

func TestCallValidation(t *testing.T) {
	set := func(kv ...string) func(url.Values) {
		return func(f url.Values) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					f.Del(kv[i])
				} else {
					f.Set(kv[i], kv[i+1])
				}
			}
		}
	}
	events := func(ev ...string) func(url.Values) {
		return func(f url.Values) {
			f.Set("StatusCallback", "http://127.0.0.1:8080/calls/status")
			f["StatusCallbackEvent"] = ev
		}
	}
	for _, tc := range []struct {
		name    string
		mod     func(url.Values)
		account string // path AccountSid; sid when empty
		pass    string // auth token; token when empty
		status  int
		code    int // Twilio code; 0 for a 201
	}{
		{name: "valid", mod: set(), status: 201},
		{name: "Url instead of Twiml", mod: set("Twiml", "", "Url", "https://otp.example/twiml?c=1"), status: 201},
		{name: "ApplicationSid instead of Twiml", mod: set("Twiml", "", "ApplicationSid", "AP0123456789abcdef0123456789abcdef"), status: 201},
		{name: "To client", mod: set("To", "client:alice_01", "From", "client:otpd"), status: 201},
		{name: "To sip", mod: set("To", "sip:alice@sip.example.com"), status: 201},
		{name: "all events", mod: events("initiated", "ringing", "answered", "completed"), status: 201},
		{name: "Twiml of 4000", mod: set("Twiml", twimlOf(4000)), status: 201},
		{name: "Timeout 1", mod: set("Timeout", "1"), status: 201},
		{name: "Timeout 600", mod: set("Timeout", "600"), status: 201},
		{name: "TimeLimit 1", mod: set("TimeLimit", "1"), status: 201},
		{name: "methods", mod: set("Method", "GET", "StatusCallbackMethod", "GET", "FallbackMethod", "POST"), status: 201},
		{name: "MachineDetection as in the spec's example", mod: set("MachineDetection", "enable"), status: 201},
		{name: "SendDigits", mod: set("SendDigits", "W1234#"), status: 201},

		{name: "To missing", mod: set("To", ""), status: 400, code: 21201},
		{name: "To national", mod: set("To", "4155552671"), status: 400, code: 21211},
		{name: "To client with space", mod: set("To", "client:alice smith", "From", "client:otpd"), status: 400, code: 21211},
		{name: "To whatsapp", mod: set("To", "whatsapp:+14155552671"), status: 400, code: 21211},
		{name: "From missing", mod: set("From", ""), status: 400, code: 21213},
		{name: "From bad", mod: set("From", "OTPd"), status: 400, code: 21212},
		{name: "phone To, client From", mod: set("From", "client:otpd"), status: 400, code: 21200},
		{name: "no Twiml, Url or ApplicationSid", mod: set("Twiml", ""), status: 400, code: 21200},
		{name: "Url relative", mod: set("Twiml", "", "Url", "/twiml"), status: 400, code: 21205},
		{name: "ApplicationSid bad", mod: set("ApplicationSid", "AP12"), status: 400, code: 21218},
		{name: "Twiml unclosed", mod: set("Twiml", "<Response><Say>code</Response>"), status: 400, code: 12100},
		{name: "Twiml plain text", mod: set("Twiml", "Your code is 1, 2, 3, 4"), status: 400, code: 12100},
		{name: "Twiml bare ampersand", mod: set("Twiml", "<Response><Say>A & B</Say></Response>"), status: 400, code: 12100},
		{name: "Twiml root not Response", mod: set("Twiml", "<Say>code</Say>"), status: 400, code: 12102},
		{name: "Twiml of 4001", mod: set("Twiml", twimlOf(4001)), status: 400, code: 32018},
		{name: "event bad", mod: events("answered", "hungup"), status: 400, code: 21626},
		{name: "events in one value", mod: events("ringing answered"), status: 400, code: 21626},
		{name: "callback underscore host", mod: set("StatusCallback", "https://otp_api.example/cb"), status: 400, code: 21609},
		{name: "Timeout 0", mod: set("Timeout", "0"), status: 400, code: 21208},
		{name: "Timeout 601", mod: set("Timeout", "601"), status: 400, code: 21208},
		{name: "Timeout not integer", mod: set("Timeout", "30s"), status: 400, code: 21208},
		{name: "TimeLimit 0", mod: set("TimeLimit", "0"), status: 400, code: 21200},
		{name: "Method PUT", mod: set("Method", "PUT"), status: 400, code: 21209},
		{name: "StatusCallbackMethod lower case", mod: set("StatusCallbackMethod", "post"), status: 400, code: 21200},
		{name: "MachineDetection bad", mod: set("MachineDetection", "Hangup"), status: 400, code: 21234},
		{name: "MachineDetectionSpeechThreshold 999", mod: set("MachineDetectionSpeechThreshold", "999"), status: 400, code: 21234},
		{name: "SendDigits bad", mod: set("SendDigits", "12x"), status: 400, code: 21206},
		{name: "Record bad", mod: set("Record", "yes"), status: 400, code: 21200},

		{name: "AccountSid malformed", mod: set(), account: "AC0123", status: 404, code: 20404},
		{name: "wrong token", mod: set(), pass: "othertoken", status: 401, code: 20003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := twiliofake.Start(sid, token)
			defer fake.Close()
			form := callForm()
			tc.mod(form)
			account, pass := sid, token
			if tc.account != "" {
				account = tc.account
			}
			if tc.pass != "" {
				pass = tc.pass
			}

			status, body := post(t, fake.URL, callsPath(account), sid, pass, form)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.code == 0 {
				checkCallResource(t, fake, body, form)
				return
			}
			if body["code"] != float64(tc.code) || body["status"] != float64(tc.status) || body["message"] == "" {
				t.Fatalf("error body %v, want code %d", body, tc.code)
			}
			reqs := fake.Requests()
			recorded := tc.status == http.StatusBadRequest
			if len(fake.Accepted()) != 0 || (len(reqs) == 1) != recorded ||
				(recorded && (reqs[0].Status != 400 || reqs[0].Kind != twiliofake.KindCall)) {
				t.Fatalf("requests %+v", reqs)
			}
		})
	}
}

// checkCallResource checks a 201's body against the call the fake kept.
func checkCallResource(t *testing.T, fake *twiliofake.Server, body map[string]any, form url.Values) {
	t.Helper()
	calls := fake.Calls()
	if len(calls) != 1 || len(fake.Messages()) != 0 || len(fake.Accepted()) != 1 {
		t.Fatalf("calls %+v, accepted %+v", calls, fake.Accepted())
	}
	c := calls[0]
	sid, _ := body["sid"].(string)
	if !callSIDRe.MatchString(sid) || c.SID != sid || c.Kind != twiliofake.KindCall {
		t.Fatalf("sid %q, recorded %+v", sid, c)
	}
	for k, want := range map[string]any{
		"status": "queued", "direction": "outbound-api", "to": form.Get("To"), "from": form.Get("From"),
		"account_sid": c.AccountSID, "api_version": "2010-04-01",
		"uri": "/2010-04-01/Accounts/" + c.AccountSID + "/Calls/" + sid + ".json",
	} {
		if body[k] != want {
			t.Errorf("%s = %v, want %v", k, body[k], want)
		}
	}
	if subs, _ := body["subresource_uris"].(map[string]any); subs["recordings"] == nil {
		t.Errorf("subresource_uris %v", body["subresource_uris"])
	}
	if _, err := time.Parse(time.RFC1123Z, body["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}
}

// Requests of both kinds share one record, one script and one set of
// Expect channels keyed on To exactly as sent.
func TestCallsAndMessagesTogether(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	whatsapp := url.Values{"To": {"whatsapp:+14155552671"}, "From": {"whatsapp:+15005550006"}, "Body": {"code 123456"}}
	callCh, waCh, smsCh := fake.Expect("+14155552671"), fake.Expect("whatsapp:+14155552671"), fake.Expect("+14155550100")

	fake.Script(twiliofake.Response{Status: 503, Code: 20503}, twiliofake.Response{Status: 429, Code: 20429})
	if status, _ := post(t, fake.URL, callsPath(sid), sid, token, callForm()); status != 503 {
		t.Fatalf("first scripted answer went to the call as %d", status)
	}
	if status, _ := post(t, fake.URL, messagesPath(sid), sid, token, whatsapp); status != 429 {
		t.Fatalf("second scripted answer went to the message as %d", status)
	}
	for _, send := range []struct {
		path string
		form url.Values
	}{
		{callsPath(sid), callForm()},
		{messagesPath(sid), whatsapp},
		{messagesPath(sid), url.Values{"To": {"+14155550100"}, "From": {"+15005550006"}, "Body": {"code 654321"}}},
	} {
		if status, body := post(t, fake.URL, send.path, sid, token, send.form); status != 201 {
			t.Fatalf("%s: %d %v", send.path, status, body)
		}
	}

	call, wa, sms := <-callCh, <-waCh, <-smsCh
	if call.Kind != twiliofake.KindCall || !callSIDRe.MatchString(call.SID) ||
		wa.Kind != twiliofake.KindMessage || !strings.HasPrefix(wa.SID, "SM") || sms.Form.Get("Body") != "code 654321" {
		t.Fatalf("call %+v\nwhatsapp %+v\nsms %+v", call, wa, sms)
	}
	if n, c, m := len(fake.Accepted()), len(fake.Calls()), len(fake.Messages()); n != 3 || c != 1 || m != 2 || fake.AcceptedCount() != 3 {
		t.Fatalf("accepted %d, calls %d, messages %d", n, c, m)
	}
	if twiliofake.CodeIn(call.Form.Get("Twiml")) != "123456" || twiliofake.CodeIn(wa.Form.Get("Body")) != "123456" {
		t.Fatal("codes not found")
	}
}

// receiver is a callback endpoint that checks X-Twilio-Signature with
// twilio-go's own validator and hands over what it got.
type receiver struct {
	srv   *httptest.Server
	got   chan url.Values // the form (POST) or query (GET), signature checked
	reply int
}

func newReceiver(t *testing.T, reply int) *receiver {
	rv := &receiver{got: make(chan url.Values, 10), reply: reply}
	validator := twclient.NewRequestValidator(token)
	rv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fullURL := "http://" + r.Host + r.URL.RequestURI()
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("X-Twilio-Signature")
		ok := validator.ValidateBody(fullURL, body, sig)
		vals, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			ok, vals = validator.Validate(fullURL, map[string]string{}, sig), r.URL.Query()
		}
		if !ok {
			t.Errorf("bad signature on %s %s", r.Method, fullURL)
		}
		rv.got <- vals
		w.WriteHeader(rv.reply)
	}))
	t.Cleanup(rv.srv.Close)
	return rv
}

// placeCall creates a call through the fake and returns its record.
func placeCall(t *testing.T, fake *twiliofake.Server, mod func(url.Values)) twiliofake.Request {
	t.Helper()
	form := callForm()
	mod(form)
	ch := fake.Expect(form.Get("To"))
	if status, body := post(t, fake.URL, callsPath(sid), sid, token, form); status != 201 {
		t.Fatalf("call: %d %v", status, body)
	}
	return <-ch
}

func TestCallStatusCallback(t *testing.T) {
	ctx := context.Background()
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	rv := newReceiver(t, http.StatusNoContent)

	t.Run("every event subscribed", func(t *testing.T) {
		call := placeCall(t, fake, func(f url.Values) {
			f.Set("StatusCallback", rv.srv.URL+"/calls/status?attempt=1")
			f["StatusCallbackEvent"] = []string{"initiated", "ringing", "answered", "completed"}
		})
		for i, status := range []string{"initiated", "ringing", "in-progress", "completed"} {
			code, err := fake.CallStatusCallback(ctx, call, status)
			if err != nil || code != http.StatusNoContent {
				t.Fatalf("%s: %d %v", status, code, err)
			}
			got := <-rv.got
			for k, want := range map[string]string{
				"AccountSid": sid, "CallSid": call.SID, "CallStatus": status, "To": "+14155552671",
				"From": "+15005550006", "Direction": "outbound-api", "ApiVersion": "2010-04-01",
				"CallbackSource": "call-progress-events", "SequenceNumber": strconv.Itoa(i),
			} {
				if got.Get(k) != want {
					t.Errorf("%s: %s = %q, want %q", status, k, got.Get(k), want)
				}
			}
			if _, err := time.Parse(time.RFC1123Z, got.Get("Timestamp")); err != nil {
				t.Errorf("%s: Timestamp %q", status, got.Get("Timestamp"))
			}
			if _, has := got["CallDuration"]; has != (status == "completed") {
				t.Errorf("%s: CallDuration %q", status, got.Get("CallDuration"))
			}
		}
	})

	t.Run("completed only by default", func(t *testing.T) {
		call := placeCall(t, fake, func(f url.Values) { f.Set("StatusCallback", rv.srv.URL+"/cb") })
		for _, status := range []string{"initiated", "ringing", "in-progress"} {
			if _, err := fake.CallStatusCallback(ctx, call, status); err == nil {
				t.Errorf("%s sent without a subscription", status)
			}
		}
		for _, status := range []string{"no-answer", "busy"} {
			if code, err := fake.CallStatusCallback(ctx, call, status); err != nil || code != http.StatusNoContent {
				t.Fatalf("%s: %d %v", status, code, err)
			}
			if got := <-rv.got; got.Get("CallStatus") != status || got.Has("CallDuration") {
				t.Errorf("%s: %v", status, got)
			}
		}
	})

	t.Run("GET", func(t *testing.T) {
		call := placeCall(t, fake, func(f url.Values) {
			f.Set("StatusCallback", rv.srv.URL+"/cb?tenant=a")
			f.Set("StatusCallbackMethod", "GET")
		})
		if code, err := fake.CallStatusCallback(ctx, call, "completed"); err != nil || code != http.StatusNoContent {
			t.Fatalf("%d %v", code, err)
		}
		if got := <-rv.got; got.Get("tenant") != "a" || got.Get("CallStatus") != "completed" || got.Get("CallDuration") == "" {
			t.Errorf("query %v", got)
		}
	})

	t.Run("refused", func(t *testing.T) {
		answeredOnly := placeCall(t, fake, func(f url.Values) {
			f.Set("StatusCallback", rv.srv.URL+"/cb")
			f.Set("StatusCallbackEvent", "answered")
		})
		noCallback := placeCall(t, fake, func(url.Values) {})
		withApp := placeCall(t, fake, func(f url.Values) {
			f.Set("StatusCallback", rv.srv.URL+"/cb")
			f.Set("ApplicationSid", "AP0123456789abcdef0123456789abcdef")
		})
		msgCh := fake.Expect("+14155559999")
		form := validForm()
		form.Set("To", "+14155559999")
		form.Set("StatusCallback", rv.srv.URL+"/cb")
		post(t, fake.URL, messagesPath(sid), sid, token, form)
		msg := <-msgCh
		for name, c := range map[string]struct {
			call   twiliofake.Request
			status string
		}{
			"completed not subscribed": {answeredOnly, "completed"},
			"failed not subscribed":    {answeredOnly, "failed"},
			"unknown status":           {answeredOnly, "answered"},
			"no StatusCallback":        {noCallback, "completed"},
			"ApplicationSid":           {withApp, "completed"},
			"a message":                {msg, "completed"},
		} {
			if _, err := fake.CallStatusCallback(ctx, c.call, c.status); err == nil {
				t.Errorf("%s: sent", name)
			}
		}
		if code, err := fake.CallStatusCallback(ctx, answeredOnly, "in-progress"); err != nil || code != http.StatusNoContent {
			t.Fatalf("in-progress: %d %v", code, err)
		}
		<-rv.got
	})

	t.Run("receiver status returned", func(t *testing.T) {
		failing := newReceiver(t, http.StatusInternalServerError)
		call := placeCall(t, fake, func(f url.Values) { f.Set("StatusCallback", failing.srv.URL+"/cb") })
		if code, err := fake.CallStatusCallback(ctx, call, "completed"); err != nil || code != http.StatusInternalServerError {
			t.Fatalf("%d %v", code, err)
		}
		<-failing.got
	})
}

func TestCodeIn(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Your Acme verification code is: 123456", "123456"},
		{"Your Acme verification code is: 123456\n\nFA+9qCX9VSu\n\n@example.com #123456", "123456"},
		{"Acme 2024: your code is 98765", "2024"}, // the first run, as always for texts
		{"no code 123 here", ""},
		{sayCode, "123456"},
		{`<Response><Say language="ja-JP">Acme 2024の認証コードは、1, 2, 3, 4です。</Say></Response>`, "1234"},
		{"Your code is: 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.", "9876543210"},
		{"1, 2, 3 is not a code", ""},
		{"12, 3, 4, 5", ""}, // a two-digit number is not spoken digit by digit
	} {
		if got := twiliofake.CodeIn(tc.text); got != tc.want {
			t.Errorf("CodeIn(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestSpokenIn(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say language="fr-FR" voice="Google.fr-FR-Standard-A">Votre code Acme &amp; Cie est : 1, 2, 3, 4.</Say>
  <Pause length="1"/>
  <Gather numDigits="1"><Say language="en-US">Press 1 to <emphasis>hear</emphasis> it again.</Say></Gather>
  <Say>Bye</Say>
</Response>`
	want := []twiliofake.Say{
		{Language: "fr-FR", Voice: "Google.fr-FR-Standard-A", Text: "Votre code Acme & Cie est : 1, 2, 3, 4."},
		{Language: "en-US", Text: "Press 1 to hear it again."},
		{Text: "Bye"},
	}
	if got := twiliofake.SpokenIn(doc); !slices.Equal(got, want) {
		t.Fatalf("SpokenIn = %+v\nwant %+v", got, want)
	}
	if got := twiliofake.SpokenIn("<Response><Say>open"); got != nil {
		t.Fatalf("malformed: %+v", got)
	}
}

// rewrite points twilio-go's requests at the fake, as twilio/sender.go's
// transport does.
type rewrite struct{ base *url.URL }

func (t rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

func twilioGo(t *testing.T, fake *twiliofake.Server) *twapi.ApiService {
	t.Helper()
	base, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(sid, token),
		HTTPClient:  &http.Client{Transport: rewrite{base}},
	}
	c.SetAccountSid(sid)
	return twapi.NewApiServiceWithClient(c)
}

// The real client's requests pass the fake's checks, repeated
// StatusCallbackEvent included, and its refusals decode as Twilio's.
func TestTwilioGoCreateCall(t *testing.T) {
	fake := twiliofake.Start(sid, token)
	defer fake.Close()
	rv := newReceiver(t, http.StatusOK)
	api := twilioGo(t, fake)

	p := &twapi.CreateCallParams{}
	p.SetTo("+14155552671").SetFrom("+15005550006").SetTwiml(sayCode).
		SetStatusCallback(rv.srv.URL + "/calls/status").
		SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"}).
		SetTimeout(30).SetTimeLimit(120).SetMachineDetection("Enable")
	call, err := api.CreateCall(p)
	if err != nil {
		t.Fatal(err)
	}
	if call.Sid == nil || !callSIDRe.MatchString(*call.Sid) || call.Status == nil || *call.Status != "queued" ||
		call.To == nil || *call.To != "+14155552671" || call.Direction == nil || *call.Direction != "outbound-api" {
		t.Fatalf("call %+v", call)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].SID != *call.Sid || len(calls[0].Form["StatusCallbackEvent"]) != 4 {
		t.Fatalf("calls %+v", calls)
	}
	if code, err := fake.CallStatusCallback(context.Background(), calls[0], "ringing"); err != nil || code != http.StatusOK {
		t.Fatalf("callback: %d %v", code, err)
	}
	if got := <-rv.got; got.Get("CallSid") != *call.Sid {
		t.Fatalf("callback form %v", got)
	}
	spoken := twiliofake.SpokenIn(calls[0].Form.Get("Twiml"))
	if len(spoken) != 1 || spoken[0].Language != "en-US" || twiliofake.CodeIn(spoken[0].Text) != "123456" {
		t.Fatalf("spoken %+v", spoken)
	}

	p.SetTimeout(601)
	_, err = api.CreateCall(p)
	var rest *twclient.TwilioRestError
	if !errors.As(err, &rest) || rest.Code != 21208 || rest.Status != 400 {
		t.Fatalf("Timeout 601: %v", err)
	}
}
