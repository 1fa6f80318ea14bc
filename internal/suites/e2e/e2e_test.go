// Package e2e builds the real api and worker binaries and runs them against
// a throw-away Redis and a fake Twilio, as an operator would run them.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

const apiKey = "e2e-key-0123456789abcdef"

var binDir string

func TestMain(m *testing.M) {
	dir, err := proctest.Build(true, "api", "worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs one of the built binaries with exactly env as its environment.
func start(t testing.TB, name string, env map[string]string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, filepath.Join(binDir, name), proctest.Environ(env))
}

// stack is the api and worker in production mode, and the Go client of
// the api. A PUBLIC_URL in extra, whatever its value, is the api's own URL.
type stack struct {
	*stacktest.Stack
	client *client.Client // the /v1 routes, as a backend calls them
}

func startStack(t testing.TB, extra map[string]string) *stack {
	t.Helper()
	env := map[string]string{
		"API_KEYS":            "old-key-0123456789abcdef," + apiKey,
		"OTP_SECRET":          "e2e-secret-e2e-secret-e2e-secret-e2e-secret",
		"OTP_RESEND_COOLDOWN": "1s",
	}
	maps.Copy(env, extra)
	if _, ok := extra["PUBLIC_URL"]; ok {
		env["PUBLIC_URL"] = stacktest.BaseURL
	}
	s := stacktest.Start(t, stacktest.Config{Bin: binDir, Env: env})
	return &stack{Stack: s, client: newClient(t, s.Base)}
}

// newClient is the project's Go client of the api at base. It never
// retries: each call is one request, so a test sees the very answer the
// server gave (a retried 503 or 502 would hide it), as with s.call.
func newClient(t testing.TB, base string) *client.Client {
	t.Helper()
	c, err := client.New(base, apiKey, client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refusal is err as the API's refusal, or nil when err is nil. Any other
// error (the request got no answer) ends the test. Call it from the test's
// goroutine only.
func refusal(t testing.TB, err error) *client.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	return e
}

// refused reports whether err is the API's refusal with that status and code.
func refused(err error, status int, code client.ErrorCode) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == status && e.Code == code
}

// start starts (or resends) a verification through the client; anything
// but its 202 ends the test.
func (s *stack) start(t testing.TB, req client.StartRequest) client.Verification {
	t.Helper()
	v, err := s.client.Start(t.Context(), req)
	if err != nil {
		t.Fatalf("start %+v: %v", req, err)
	}
	return v
}

// get reads a verification through the client; anything but its 200 ends
// the test.
func (s *stack) get(t testing.TB, id string) client.Verification {
	t.Helper()
	v, err := s.client.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return v
}

// call sends a raw request; it is for the routes the client does not
// cover (the tutorial's /send-code and /verify-code).
func (s *stack) call(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := s.Call(http.DefaultClient, apiKey, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

// waitDelivery polls the verification until its delivery status is want.
func (s *stack) waitDelivery(t testing.TB, id string, want client.DeliveryStatus) client.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.client.Get(t.Context(), id)
		refusal(t, err) // a refusal is polled again; no answer ends the test
		if err == nil && got.Delivery.Status == want {
			return got.Delivery
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery never became %s: %v %+v", want, err, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitSMS(t testing.TB, fake *twiliofake.Server, n int) []twiliofake.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reqs, err := fake.WaitRequests(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

func TestSendDeliverCheck(t *testing.T) {
	s := startStack(t, nil)
	v, err := s.client.Start(t.Context(), client.StartRequest{To: "+1 (415) 555-2671"})
	if err != nil || v.Status != client.StatusPending || v.To != "+14155552671" {
		t.Fatalf("send: %v %+v", err, v)
	}
	id := v.ID

	sms := waitSMS(t, s.Fake, 1)[0]
	if sms.Form.Get("To") != "+14155552671" || sms.Form.Get("From") != stacktest.From || sms.AccountSID != stacktest.AccountSID {
		t.Fatalf("sms form %v", sms.Form)
	}
	code := twiliofake.CodeIn(sms.Form.Get("Body"))
	if len(code) != 6 || sms.Form.Get("Body") != "Your Acme verification code is: "+code {
		t.Fatalf("body %q", sms.Form.Get("Body"))
	}
	// Twilio drops the SMS rather than deliver it after the code expired.
	if vp, _ := strconv.Atoi(sms.Form.Get("ValidityPeriod")); vp < 590 || vp > 600 {
		t.Fatalf("ValidityPeriod %q", sms.Form.Get("ValidityPeriod"))
	}

	// The code is in no log line of either process.
	for name, p := range map[string]*proctest.Proc{"api": s.API, "worker": s.Worker} {
		if strings.Contains(p.Output(), code) {
			t.Errorf("%s log contains the code", name)
		}
	}

	d := s.waitDelivery(t, id, "sending")
	if d.MessageSID != sms.SID {
		t.Fatalf("delivery %+v", d)
	}
	// A code that is not the right one is Valid false and no error: one of
	// the wrong shape (the api's 400 invalid_request, not counted), and a
	// wrong one (counted). The request's own faults stay errors.
	for _, bad := range []string{"12345", "12a456", code + "0", ""} {
		res, err := s.client.Check(t.Context(), client.CheckRequest{ID: id, Code: bad})
		if err != nil || res.Valid || !res.Malformed {
			t.Fatalf("check %q: %v %+v", bad, err, res)
		}
	}
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	res, err := s.client.Check(t.Context(), client.CheckRequest{ID: id, Code: wrong, ClientIP: "203.0.113.7"})
	if err != nil || res.Valid || res.Malformed || res.ID != id || res.CheckAttempts != 1 {
		t.Fatalf("wrong code: %v %+v", err, res)
	}
	for _, req := range []client.CheckRequest{{Code: "12a456"}, {ID: id, To: "+14155552671", Code: "12a456"},
		{ID: id, Code: "12a456", ClientIP: "fe80::1%eth0"}} {
		if res, err := s.client.Check(t.Context(), req); !refused(err, 400, client.CodeInvalidRequest) {
			t.Fatalf("check %+v: %v %+v", req, err, res)
		}
	}
	got, err := s.client.Check(t.Context(), client.CheckRequest{To: "+14155552671", Code: code})
	if err != nil || !got.Valid || got.Status != client.StatusApproved {
		t.Fatalf("check: %v %+v", err, got)
	}
	if got, err = s.client.Check(t.Context(), client.CheckRequest{ID: id, Code: code}); !refused(err, 404, client.CodeApproved) {
		t.Fatalf("reuse: %v %+v", err, got)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestResendSendsSameCodeAndLegacyRoutes(t *testing.T) {
	s := startStack(t, nil)
	status, body := s.call(t, "POST", "/send-code", map[string]string{"phoneNumber": "+14155550123"})
	if status != 202 || body["message"] != "Verification code sent" {
		t.Fatalf("send-code: %d %v", status, body)
	}
	first := twiliofake.CodeIn(waitSMS(t, s.Fake, 1)[0].Form.Get("Body"))
	time.Sleep(1100 * time.Millisecond) // OTP_RESEND_COOLDOWN=1s
	if status, body = s.call(t, "POST", "/send-code", map[string]string{"phoneNumber": "+14155550123"}); status != 202 {
		t.Fatalf("resend: %d %v", status, body)
	}
	second := twiliofake.CodeIn(waitSMS(t, s.Fake, 2)[1].Form.Get("Body"))
	if first != second {
		t.Fatalf("resend changed the code: %s then %s", first, second)
	}
	status, body = s.call(t, "POST", "/verify-code", map[string]string{"phoneNumber": "+14155550123", "smsCode": first})
	if status != 200 || body["message"] != "This is a valid match!" {
		t.Fatalf("verify-code: %d %v", status, body)
	}
}

func TestPermanentTwilioErrorIsRecorded(t *testing.T) {
	s := startStack(t, nil)
	s.Fake.Script(twiliofake.Response{Status: 400, Code: 21211})
	v := s.start(t, client.StartRequest{To: "+14155552671"})
	waitSMS(t, s.Fake, 1)
	if d := s.waitDelivery(t, v.ID, "failed"); d.ErrorCode != 21211 {
		t.Fatalf("delivery %+v", d)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(s.Fake.Requests()); n != 1 {
		t.Fatalf("permanent error retried: %d requests", n)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := startStack(t, nil)
	s.Fake.Script(twiliofake.Response{Status: 500, Code: 20500}, twiliofake.Response{Status: 500, Code: 20500})
	s.start(t, client.StartRequest{To: "+14155552671"})
	reqs := waitSMS(t, s.Fake, 3)
	if len(s.Fake.Accepted()) != 1 || reqs[2].Status != 201 {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := startStack(t, nil)
	s.start(t, client.StartRequest{To: "+14155552671"})
	waitSMS(t, s.Fake, 1)
	if err := s.API.Stop(t); err != nil {
		t.Fatalf("api exit: %v", err)
	}
	if err := s.Worker.Stop(t); err != nil {
		t.Fatalf("worker exit: %v", err)
	}
}

func TestWorkerFailsFastWithoutRedis(t *testing.T) {
	p := start(t, "worker", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "PATH": os.Getenv("PATH")})
	err, exited := p.Wait(15 * time.Second)
	if !exited {
		t.Fatal("worker kept running without Redis")
	}
	if err == nil || !strings.Contains(p.Output(), "redis unreachable") {
		t.Fatalf("exit %v, output:\n%s", err, p.Output())
	}
}

func TestProductionConfigErrorsNameEveryVar(t *testing.T) {
	for _, bin := range []string{"api", "worker"} {
		p := start(t, bin, map[string]string{"APP_ENV": "production", "OTP_TTL": "forever"})
		err, exited := p.Wait(15 * time.Second)
		if !exited {
			t.Fatalf("%s started with an invalid production config", bin)
		}
		out := p.Output()
		vars := []string{"OTP_SECRET", "API_KEYS", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "OTP_TTL",
			"ALLOWED_COUNTRIES", "SMS_BUDGET_PER_MINUTE"}
		if bin == "api" {
			vars = append(vars, "API_ADMIN_ADDR") // in the same pass as the others
		}
		for _, v := range vars {
			if err == nil || !strings.Contains(out, v) {
				t.Errorf("%s: exit %v; output does not name %s:\n%s", bin, err, v, out)
			}
		}
	}
}

func postForm(t testing.TB, target string, form url.Values, headers map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The -healthcheck mode probes the running process's /readyz, for
// distroless images where the container healthcheck can only run the binary.
func TestHealthcheckMode(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	s := startStack(t, map[string]string{"WORKER_METRICS_ADDR": proctest.FreeAddr(t)})
	for _, tc := range []struct {
		bin, addrVar string
	}{{"api", "HTTP_ADDR"}, {"worker", "WORKER_METRICS_ADDR"}} {
		cmd := exec.Command(filepath.Join(binDir, tc.bin), "-healthcheck")
		cmd.Env = []string{tc.addrVar + "=" + s.Env[tc.addrVar]}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := cmd.CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s -healthcheck: %v %s", tc.bin, err, out)
			}
			time.Sleep(100 * time.Millisecond)
			cmd = exec.Command(filepath.Join(binDir, tc.bin), "-healthcheck")
			cmd.Env = []string{tc.addrVar + "=" + s.Env[tc.addrVar]}
		}
		bad := exec.Command(filepath.Join(binDir, tc.bin), "-healthcheck")
		bad.Env = []string{tc.addrVar + "=127.0.0.1:1"}
		if err := bad.Run(); err == nil {
			t.Fatalf("%s -healthcheck passed against a closed port", tc.bin)
		}
	}
}
