package main

import (
	"net/http/httptest"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/tasks"
)

// A cross-site form POST that carries only the browser's Basic credentials
// paused the queue of a writable dashboard. Only the dashboard's own page
// may change anything now; reading stays open to the logged-in user.
func TestDashboardRefusesOtherSites(t *testing.T) {
	f := newFixture(t)
	h := monitored(t, f, false)
	f.start(t, phone) // the otp queue exists
	insp := asynq.NewInspectorFromRedisClient(f.RDB)
	paused := func() bool {
		t.Helper()
		info, err := insp.GetQueueInfo(tasks.QueueName)
		if err != nil {
			t.Fatal(err)
		}
		return info.Paused
	}
	const pause = "/monitoring/api/queues/" + tasks.QueueName + ":pause"
	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
		want               int
		pausedAfter        bool
	}{
		{"cross-site form post", "POST", pause, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, false},
		{"other origin", "POST", pause, map[string]string{"Origin": "https://evil.example"}, 403, false},
		{"null origin (sandboxed frame)", "POST", pause, map[string]string{"Origin": "null"}, 403, false},
		{"no origin", "POST", pause, nil, 403, false},
		{"own origin but cross-site fetch", "POST", pause, map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "cross-site"}, 403, false},
		{"sibling subdomain", "DELETE", "/monitoring/api/queues/" + tasks.QueueName, map[string]string{"Origin": "https://evil.otp.example", "Sec-Fetch-Site": "same-site"}, 403, false},
		{"reading cross-site is harmless", "GET", "/monitoring/api/queues", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200, false},
		{"own page, by Host", "POST", pause, map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, 204, true},
		{"own page, by PUBLIC_URL behind a proxy", "POST", "/monitoring/api/queues/" + tasks.QueueName + ":resume", map[string]string{"Origin": "https://otp.example"}, 204, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil) // Host: example.com
			req.Header.Set("Authorization", basic("ops", testKeys[0]))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 403 {
				wantProblem(t, w, 403, "forbidden")
			}
			if got := paused(); got != tc.pausedAfter {
				t.Fatalf("queue paused = %v, want %v", got, tc.pausedAfter)
			}
		})
	}
}

// Every dashboard answer forbids framing, the 401 included.
func TestDashboardNotFramable(t *testing.T) {
	f := newFixture(t)
	h := monitored(t, f, true)
	for _, auth := range []string{"", basic("ops", testKeys[0])} {
		for _, path := range []string{"/monitoring/", "/monitoring", "/monitoring/api/queues"} {
			req := httptest.NewRequest("GET", path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Header().Get("Content-Security-Policy") != "frame-ancestors 'none'" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatalf("%s (auth %v): %d, headers %v", path, auth != "", w.Code, w.Header())
			}
		}
	}
}

// With MONITORING_PASSWORD set it is the only password: an API key, which
// can send SMS, no longer opens the dashboard.
func TestDashboardPassword(t *testing.T) {
	f := newFixture(t)
	const password = "dashboard-only-password"
	h := monitoredWith(t, f, true, dashboardPasswords(password, testKeys))
	for _, tc := range []struct {
		pass string
		want int
	}{
		{password, 200},
		{testKeys[0], 401},
		{testKeys[1], 401},
		{"", 401},
	} {
		req := httptest.NewRequest("GET", "/monitoring/api/queues", nil)
		req.Header.Set("Authorization", basic("ops", tc.pass))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("password %q: %d, want %d", tc.pass, w.Code, tc.want)
		}
	}
}
