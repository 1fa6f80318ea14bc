package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}

// workerEnv is a production configuration of the worker against the
// package's Redis and fake, serving its probes and metrics on metricsAddr.
func workerEnv(fake *twiliofake.Server, metricsAddr string) map[string]string {
	env := proctest.ProductionEnv(redisServer.URL(), "127.0.0.1:0", fake)
	env["WORKER_METRICS_ADDR"] = metricsAddr
	env["API_KEYS"] = "worker-test-key-0123456789"
	env["TWILIO_PHONE_NUMBER"] = stacktest.From
	return env
}

// The worker in one process, as main runs it: configuration from the
// environment, its probes and metrics, a delivery the api's service queued
// handed to Twilio with the code, -healthcheck, and a stop on cancel.
func TestRunDeliversAndStops(t *testing.T) {
	ctx := context.Background()
	if err := redisServer.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fake := twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	defer fake.Close()
	addr := proctest.FreeAddr(t)
	env := workerEnv(fake, addr)
	var out proctest.Buffer
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := proctest.RunInProcess(t, rctx, run, env, &out)
	if err := proctest.WaitHTTP("http://"+addr+"/readyz", 10*time.Second, proctest.Returned(errc)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}

	// The api's side: the same wiring, on the same configuration.
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisServer.Client()
	defer rdb.Close()
	parts, err := app.Build(rdb, app.FromConfig(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Asynq.Close()
	v, _, err := parts.Service.Start(ctx, otp.StartRequest{To: "+14155552671"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	sms, err := fake.WaitRequests(wctx, 1)
	if err != nil {
		t.Fatalf("no SMS: %v\n%s", err, out.String())
	}
	code := twiliofake.CodeIn(sms[0].Form.Get("Body"))
	if sms[0].Form.Get("To") != v.To || sms[0].Form.Get("From") != stacktest.From || len(code) != 6 {
		t.Fatalf("SMS %v", sms[0].Form)
	}
	if strings.Contains(out.String(), code) {
		t.Fatal("the worker logged the code")
	}
	// Counted once Twilio's answer is read, a moment after it reached the fake.
	proctest.WaitFor(t, 10*time.Second, "the delivery in /metrics", func() bool {
		return strings.Contains(get(t, "http://"+addr+"/metrics"),
			`otp_sms_sends_total{channel="sms",error_code="0",outcome="accepted",tenant="default"} 1`)
	})
	if err := run(ctx, []string{"worker", "-healthcheck"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatalf("-healthcheck of a running worker: %v", err)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop within 30s of its context's end")
	}
	if err := run(ctx, []string{"worker", "-healthcheck"}, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Fatal("-healthcheck passes with the worker stopped")
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Fatalf("no orderly stop in the log:\n%s", out.String())
	}
}

// A worker that cannot do its job does not start, and says why.
func TestRunRefusesToStart(t *testing.T) {
	fake := twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	defer fake.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name    string
		set     map[string]string
		want    string
		notWant string
	}{
		{"invalid configuration", map[string]string{"OTP_SECRET": "", "OTP_TTL": "forever"}, "OTP_TTL", ""},
		{"Redis unreachable", map[string]string{"REDIS_URL": "redis://:redis-password@127.0.0.1:1/0"}, "redis unreachable", "redis-password"},
		{"metrics address taken", map[string]string{"WORKER_METRICS_ADDR": taken.Addr().String()}, "WORKER_METRICS_ADDR", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := workerEnv(fake, proctest.FreeAddr(t))
			for k, v := range tc.set {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out proctest.Buffer
			err := <-proctest.RunInProcess(t, ctx, run, env, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error about %s, got %v", tc.want, err)
			}
			if tc.notWant != "" && (strings.Contains(err.Error(), tc.notWant) || strings.Contains(out.String(), tc.notWant)) {
				t.Fatalf("%q leaked: %v\n%s", tc.notWant, err, out.String())
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
