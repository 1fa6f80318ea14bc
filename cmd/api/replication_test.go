package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/tasks"
)

// The api with REDIS_MIN_REPLICAS=1 over a primary with one replica: a
// send is answered 202 while the replica keeps up; with the replica
// paused, 503 redis_not_replicated after REDIS_MIN_REPLICAS_TIMEOUT, the
// send undone (no task queued, no verification kept) and counted; and 202
// again once the replica is back.
func TestRunWaitsForReplicas(t *testing.T) {
	primary, err := redistest.Start("--repl-diskless-sync-delay", "0")
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	replica, err := redistest.StartReplica(primary)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()

	addr, admin := proctest.FreeAddr(t), proctest.FreeAddr(t)
	env := runEnv(addr)
	env["REDIS_URL"] = primary.URL()
	env["REDIS_MIN_REPLICAS"] = "1"
	env["REDIS_MIN_REPLICAS_TIMEOUT"] = "200ms"
	env["API_ADMIN_ADDR"] = admin
	var out proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := proctest.RunInProcess(t, ctx, run, env, &out)
	base := "http://" + addr
	waitHealthy(t, base, errc)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	send := func(path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	if resp := send("/v1/verifications", `{"to":"`+phone+`"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send with the replica up: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}

	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	defer replica.Resume()
	for _, c := range []struct{ path, body string }{
		{"/v1/verifications", `{"to":"` + otherPhone + `"}`},
		{"/send-code", `{"phoneNumber":"+14155550124"}`},
	} {
		resp := send(c.path, c.body)
		var p Problem
		err := json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || p.Code != "redis_not_replicated" ||
			p.Type != "urn:otpd:problem:redis_not_replicated" || resp.Header.Get("Retry-After") != "1" ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s with the replica paused: %d %v %+v %v", c.path, resp.StatusCode, resp.Header, p, err)
		}
	}

	// Undone: only the first send's task and verification are left.
	rdb := primary.Client()
	defer rdb.Close()
	pending, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.QueueName)
	if err != nil || len(pending) != 1 {
		t.Errorf("queued tasks %v %v, want the first send's alone", pending, err)
	}
	if keys, _ := rdb.Keys(context.Background(), "otp:{*").Result(); len(keys) != 1 {
		t.Errorf("records %v, want the first send's alone", keys)
	}
	metrics := scrape(t, "http://"+admin+"/metrics")
	for _, want := range []string{"otp_redis_not_replicated_total 2", "otp_redis_wait_seconds_count 4"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}

	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	if resp := send("/v1/verifications", `{"to":"`+otherPhone+`"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send once the replica is back: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
