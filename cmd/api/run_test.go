package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// runEnv is a complete configuration for run, pointed at the test Redis.
func runEnv(addr string) map[string]string {
	return map[string]string{
		"APP_ENV":    "test",
		"REDIS_URL":  redisServer.URL(),
		"HTTP_ADDR":  addr,
		"OTP_SECRET": testSecret,
		"API_KEYS":   strings.Join(testKeys, ", "),
		"LOG_FORMAT": "json",
	}
}

// waitHealthy polls /healthz until the server answers 200; the test
// fails at once if run returns before that.
func waitHealthy(t *testing.T, base string, errc <-chan error) {
	t.Helper()
	if err := proctest.WaitHTTP(base+"/healthz", 10*time.Second, proctest.Returned(errc)); err != nil {
		t.Fatal(err)
	}
}

// The process end to end: config from the environment, a real listener,
// a send that reaches the queue, and a graceful drain on cancel that lets
// an in-flight request finish.
func TestRunServesAndDrains(t *testing.T) {
	if err := redisServer.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t)
	base := "http://" + addr
	var out proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := proctest.RunInProcess(t, ctx, run, runEnv(addr), &out)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	waitHealthy(t, base, errc)

	resp, err := client.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()

	// One send, with the second key.
	req, _ := http.NewRequest("POST", base+"/v1/verifications", strings.NewReader(`{"to":"`+phone+`"}`))
	req.Header.Set("Authorization", "Bearer "+testKeys[1])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v otp.Verification
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted || v.To != phone || resp.Header.Get("Location") != "/v1/verifications/"+v.ID {
		t.Fatalf("send: %d %+v %v", resp.StatusCode, v, err)
	}
	rdb := redisServer.Client()
	defer rdb.Close()
	pending, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.QueueName)
	if err != nil || len(pending) != 1 || pending[0].ID != v.ID+":1" {
		t.Fatalf("queued tasks %v %v", pending, err)
	}

	// Over a real connection an oversized body is still a 413 the client can
	// read, not a reset connection.
	req, _ = http.NewRequest("POST", base+"/send-code", strings.NewReader(strings.Repeat(" ", 1<<20)))
	req.Header.Set("Authorization", "Bearer "+testKeys[0])
	if resp, err = client.Do(req); err != nil {
		t.Fatalf("oversized body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}

	// An in-flight request. With Expect: 100-continue the server says
	// "100 Continue" when the handler starts reading the body, so the test
	// knows, without sleeping, that the request is being handled when the
	// drain begins.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	body := `{"to":"` + otherPhone + `"}`
	fmt.Fprintf(conn, "POST /v1/verifications HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, testKeys[0], len(body))
	if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", r, err)
	}

	cancel()
	// Shutdown has begun once the listener refuses new connections.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}
	// The drain lets the request finish.
	fmt.Fprint(conn, body)
	inflight, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	inflight.Body.Close()
	if inflight.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight request answered %d", inflight.StatusCode)
	}

	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run = %v, want nil after a graceful drain", err)
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}

	logs := out.String()
	for _, want := range []string{`"msg":"listening"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range append([]string{testSecret, phone, otherPhone}, testKeys...) {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// run refuses to start, with an error naming the problem, rather than
// serving with a bad configuration or no listener.
func TestRunStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"short secret", map[string]string{"OTP_SECRET": "short"}, "OTP_SECRET"},
		{"bad redis url", map[string]string{"REDIS_URL": "http://localhost"}, "REDIS_URL"},
		{"production without twilio", map[string]string{"APP_ENV": "production"}, "TWILIO_ACCOUNT_SID"},
		// Everything production needs but a listener of its own for the
		// unauthenticated /metrics and /monitoring/.
		{"production with metrics on the public listener", map[string]string{"APP_ENV": "production",
			"TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN": "token", "TWILIO_PHONE_NUMBER": "+15005550006",
			"ALLOWED_COUNTRIES": "US", "SMS_BUDGET_PER_MINUTE": "60", "OTP_BRAND": "Acme"}, "invalid configuration:\nAPI_ADMIN_ADDR: required in production"},
		{"address in use", map[string]string{"HTTP_ADDR": busy.Addr().String()}, "address already in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := runEnv(proctest.FreeAddr(t))
			for k, v := range tc.set {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out proctest.Buffer
			select {
			case err := <-proctest.RunInProcess(t, ctx, run, env, &out):
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("run = %v, want an error about %s", err, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("run kept running with a bad configuration")
			}
		})
	}
}
