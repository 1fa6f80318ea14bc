package twiliofake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/twilio"
	"github.com/otpd/otpd/twiliofake"
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
		{name: "To whatsapp", mod: set("To", "whatsapp:+14155552671"), status: 201},

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
				if sid, _ := body["sid"].(string); !strings.HasPrefix(sid, "SM") || len(fake.Accepted()) != 1 {
					t.Fatalf("body %v, accepted %v", body, fake.Accepted())
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
