package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
	"github.com/otpd/otpd/tasks"
)

// The events an api queues leave Redis even when no worker delivers them
// (WEBHOOK_URL set on the api, not on the worker): the api itself drops
// the oldest beyond WEBHOOK_MAX_PENDING and gives up those older than
// WEBHOOK_MAX_AGE, and counts them.
func TestRunBoundsTheEventsItQueues(t *testing.T) {
	ctx := context.Background()
	rdb := redisServer.Client()
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t)
	env := runEnv(addr)
	env["WEBHOOK_URL"] = "http://127.0.0.1:1/hook" // never reached: only a worker delivers
	env["WEBHOOK_SECRET"] = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	env["WEBHOOK_MAX_PENDING"] = "100"

	// What an api queued, and no worker took: one event over a day old,
	// and 130 recent ones.
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	parts, err := app.Build(rdb, app.FromConfig(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Asynq.Close()
	now := time.Now()
	for i := range 131 {
		at := now.Add(time.Duration(i-131) * time.Second)
		if i == 0 {
			at = now.Add(-26 * time.Hour)
		}
		id := fmt.Sprintf("evt_VE%032x_%s", i, otp.EventApproved)
		if err := parts.Deps.Events.Emit(ctx, otp.Event{ID: id, Type: otp.EventApproved, At: at}); err != nil {
			t.Fatal(err)
		}
	}

	var out proctest.Buffer
	rctx, cancel := context.WithCancel(ctx)
	errc := proctest.RunInProcess(t, rctx, run, env, &out)
	defer func() { cancel(); <-errc }()
	waitHealthy(t, "http://"+addr, errc)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	proctest.WaitFor(t, 10*time.Second, "100 events waiting", func() bool {
		q, err := insp.GetQueueInfo(tasks.WebhookQueue)
		return err == nil && q.Size == 100 && rdb.ZCard(ctx, redisstore.PendingEventsKey).Val() == 100
	})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`otp_webhooks_total{outcome="expired",type="verification.approved"} 1`,
		`otp_webhooks_total{outcome="dropped",type="verification.approved"} 30`,
		"otp_webhooks_pending 100",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(out.String(), "verification events dropped") || !strings.Contains(out.String(), "verification events given up") {
		t.Errorf("the api's log does not say it dropped events:\n%s", out.String())
	}
}
