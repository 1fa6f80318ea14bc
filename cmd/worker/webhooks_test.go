package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

var webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// A token in WEBHOOK_URL's query stays out of the worker's log and out of
// the error asynq keeps with a failed delivery (the dashboard shows it),
// whether the receiver answers 500 or cannot be reached.
func TestRunHidesTheWebhookToken(t *testing.T) {
	fake := twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	defer fake.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused.Close()
	for _, tc := range []struct{ name, base, wantErr string }{
		{"receiver answers 500", failing.URL, "answered 500"},
		{"connection refused", "http://" + refused.Addr().String(), "hook?token=xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := redisServer.Client()
			defer rdb.Close()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			env := workerEnv(fake, proctest.FreeAddr(t))
			env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = tc.base+"/hook?token=s3cret", webhookSecret
			var out proctest.Buffer
			rctx, cancel := context.WithCancel(ctx)
			errc := proctest.RunInProcess(t, rctx, run, env, &out)
			defer func() { cancel(); <-errc }()
			if err := proctest.WaitHTTP("http://"+env["WORKER_METRICS_ADDR"]+"/readyz", 10*time.Second, proctest.Returned(errc)); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}

			// The api's side queues an event, on the same configuration.
			cfg, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			parts, err := app.Build(rdb, app.FromConfig(cfg, slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer parts.Asynq.Close()
			id := "evt_" + strings.Repeat("0", otp.IDLen) + "_" + otp.EventCanceled
			if err := parts.Deps.Events.Emit(ctx, otp.Event{ID: id, Type: otp.EventCanceled, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			insp := asynq.NewInspectorFromRedisClient(rdb)
			var lastErr string
			proctest.WaitFor(t, 15*time.Second, "a failed delivery", func() bool {
				info, err := insp.GetTaskInfo(tasks.WebhookQueue, id)
				if err == nil {
					lastErr = info.LastErr
				}
				return lastErr != ""
			})
			if strings.Contains(lastErr, "s3cret") || !strings.Contains(lastErr, tc.wantErr) {
				t.Errorf("the task's last error: %s", lastErr)
			}
			if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), "hook?token=xxxxx") {
				t.Errorf("the worker's log:\n%s", out.String())
			}
		})
	}
}

// A worker without WEBHOOK_URL delivers no events, yet gives up those no
// configuration would retry any longer (older than the longest
// WEBHOOK_MAX_AGE): what an api with WEBHOOK_URL left for it does not stay
// in Redis for good. The rest it leaves for a worker that delivers.
func TestRunGivesUpEventsNobodyDelivers(t *testing.T) {
	ctx := context.Background()
	rdb := redisServer.Client()
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fake := twiliofake.Start(stacktest.AccountSID, stacktest.AuthToken)
	defer fake.Close()
	env := workerEnv(fake, proctest.FreeAddr(t))

	// The api's side, with WEBHOOK_URL, queued an event 8 days ago and one now.
	apiEnv := map[string]string{"WEBHOOK_URL": "http://127.0.0.1:1/hook", "WEBHOOK_SECRET": webhookSecret}
	for k, v := range env {
		apiEnv[k] = v
	}
	cfg, err := config.Load(func(k string) string { return apiEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	parts, err := app.Build(rdb, app.FromConfig(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Asynq.Close()
	old, recent := "evt_"+strings.Repeat("0", otp.IDLen)+"_"+otp.EventApproved, "evt_"+strings.Repeat("1", otp.IDLen)+"_"+otp.EventApproved
	for id, at := range map[string]time.Time{old: time.Now().Add(-8 * 24 * time.Hour), recent: time.Now()} {
		if err := parts.Deps.Events.Emit(ctx, otp.Event{ID: id, Type: otp.EventApproved, At: at}); err != nil {
			t.Fatal(err)
		}
	}

	var out proctest.Buffer
	rctx, cancel := context.WithCancel(ctx)
	errc := proctest.RunInProcess(t, rctx, run, env, &out)
	defer func() { cancel(); <-errc }()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	proctest.WaitFor(t, 10*time.Second, "the 8-day-old event given up", func() bool {
		_, err := insp.GetTaskInfo(tasks.WebhookQueue, old)
		return err != nil
	})
	if _, err := insp.GetTaskInfo(tasks.WebhookQueue, recent); err != nil {
		t.Fatalf("the recent event: %v", err)
	}
	if !strings.Contains(out.String(), "verification events given up") {
		t.Errorf("the worker's log does not say it gave events up:\n%s", out.String())
	}
}
