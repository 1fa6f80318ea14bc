package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/otpd/otpd/internal/testkit/browsertest"
)

// monitored builds the router with the dashboard on the test Redis, its
// password the API keys.
func monitored(t *testing.T, f *fixture, readOnly bool) http.Handler {
	return monitoredWith(t, f, readOnly, dashboardPasswords("", testKeys))
}

func monitoredWith(t *testing.T, f *fixture, readOnly bool, passwords []string) http.Handler {
	t.Helper()
	mon := newMonitoring(redisServer.URL(), readOnly)
	t.Cleanup(func() { mon.Close() })
	return newHandler(f.deps(discardLogger(), f.Svc), nil,
		withMonitoring(dashboard{handler: mon, passwords: passwords, publicURL: "https://otp.example"}))
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestMonitoringAuth(t *testing.T) {
	f := newFixture(t)
	h := monitored(t, f, true)
	f.start(t, phone) // a task in the otp queue
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no credentials", "/monitoring/", "", 401},
		{"wrong password", "/monitoring/", basic("ops", "nope"), 401},
		{"bearer is not basic", "/monitoring/", "Bearer " + testKeys[0], 401},
		{"redis info without credentials", "/monitoring/api/redis_info", "", 401},
		{"root without slash", "/monitoring", "", 401},
		{"any user, first key", "/monitoring/", basic("ops", testKeys[0]), 200},
		{"second key", "/monitoring/api/queues", basic("", testKeys[1]), 200},
		{"redis info", "/monitoring/api/redis_info", basic("ops", testKeys[0]), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestMonitoringReadOnlyAndPayloads(t *testing.T) {
	f := newFixture(t)
	h := monitored(t, f, true)
	v := f.start(t, phone)
	code := f.code(t, v.ID)
	get := func(path string) string {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", basic("ops", testKeys[0]))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return w.Body.String()
	}
	body := get("/monitoring/api/queues/otp/pending_tasks")
	if !strings.Contains(body, v.ID) || strings.Contains(body, code) {
		t.Fatalf("pending tasks page: %s", body)
	}
	// Read-only: no task can be deleted or run from the dashboard.
	req := httptest.NewRequest("DELETE", "/monitoring/api/queues/otp/pending_tasks:delete_all", nil)
	req.Header.Set("Authorization", basic("ops", testKeys[0]))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code < 400 {
		t.Fatalf("read-only dashboard accepted a delete: %d", w.Code)
	}
	if n := len(get("/monitoring/api/queues/otp/pending_tasks")); n == 0 {
		t.Fatal("tasks gone")
	}
	if !strings.Contains(get("/monitoring/api/queues/otp/pending_tasks"), v.ID) {
		t.Fatal("a read-only dashboard deleted tasks")
	}
}

func TestFormatPayload(t *testing.T) {
	if got := formatPayload("otp:send_sms", []byte(`{"id":"VE0123456789abcdef0123456789abcdef","attempt":2}`)); got != `{"id":"VE0123456789abcdef0123456789abcdef","attempt":2}` {
		t.Fatal(got)
	}
	if got := formatPayload("other", []byte(`{"code":"123456"}`)); got != "(hidden)" {
		t.Fatal(got)
	}
	if got := formatPayload("otp:send_sms", []byte(`{"code":"123456"}`)); strings.Contains(got, "123456") {
		t.Fatal(got)
	}
}

// A person logs in with a browser and sees the queues page render.
func TestMonitoringInBrowser(t *testing.T) {
	f := newFixture(t)
	f.start(t, phone)
	srv := httptest.NewServer(monitored(t, f, true))
	defer srv.Close()
	ctx := browsertest.Start(t)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basic("ops", testKeys[0])}}); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 45*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL+"/monitoring/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.body && /\botp\b/.test(document.body.innerText) && /queues/i.test(document.body.innerText)`)); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		t.Fatalf("queues page did not render: %v\n%s", err, text)
	}
	text, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "otp") {
		t.Fatalf("queues page without the otp queue:\n%s", text)
	}
	out := filepath.Join(t.TempDir(), "monitoring.png")
	_ = os.WriteFile(out, shot, 0o644)
	if dir := os.Getenv("OTPD_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "monitoring.png"), shot, 0o644)
	}
}
