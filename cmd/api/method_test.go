package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/internal/testkit/proctest"
)

// Go accepts any token as a method. Taken verbatim as a label, made-up
// methods created a series each that was never freed; now they are OTHER,
// answered 405 before anything else runs.
func TestUnknownMethodsAreBounded(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := newHandler(f.deps(log, f.Svc), promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		withHTTPMetrics(metrics.NewHTTP(reg)))

	rng := rand.New(rand.NewPCG(1, 2))
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&'*+-.^_`|~0123456789"
	paths := []string{"/healthz", "/v1/verifications", "/metrics", "/nowhere", "/monitoring/"}
	for i := 0; i < 300; i++ {
		b := make([]byte, 1+rng.IntN(40))
		for j := range b {
			b[j] = letters[rng.IntN(len(letters))]
		}
		method := string(b)
		if metrics.Method(method) != "OTHER" {
			continue
		}
		req := httptest.NewRequest("GET", paths[i%len(paths)], strings.NewReader(`{"to":"`+phone+`"}`))
		req.Method = method
		req.Header.Set("Authorization", "Bearer "+testKeys[0])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		wantProblem(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	}
	// Standard methods still reach their routes or the usual 405.
	wantStatus(t, serve(h, "GET", "/healthz", nil), 200)
	wantProblem(t, serve(h, "PUT", "/healthz", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	// Nothing reached the service: no verification, no send.
	if n, _ := f.RDB.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("%d keys in Redis after unknown methods", n)
	}

	w := serve(h, "GET", "/metrics", nil)
	methods := map[string]bool{}
	for _, m := range regexp.MustCompile(`method="([^"]*)"`).FindAllStringSubmatch(w.Body.String(), -1) {
		methods[m[1]] = true
	}
	if len(methods) > 10 || !methods["OTHER"] {
		t.Fatalf("method labels %v", methods)
	}
	var bad []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && !regexp.MustCompile(`"method":"(GET|PUT|OTHER)"`).MatchString(line) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("access log lines with an unmapped method:\n%s", strings.Join(bad[:min(3, len(bad))], "\n"))
	}
}

func TestMethodLabel(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
		"CONNECT": "CONNECT", "OPTIONS": "OPTIONS", "TRACE": "TRACE",
		"get": "OTHER", "PROPFIND": "OTHER", "": "OTHER", strings.Repeat("A", 1<<10): "OTHER",
	} {
		if got := metrics.Method(in); got != want {
			t.Errorf("Method(%.20q) = %q, want %q", in, got, want)
		}
	}
}

// rawRequest sends a request line and headers over TCP and returns the
// status code of the answer (0 when the server closed without one).
func rawRequest(t *testing.T, addr, method, path string, headers map[string]string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, addr)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("Connection: close\r\n\r\n")
	go func() { _, _ = io.WriteString(conn, b.String()) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Every listener of the api bounds a request's line and headers at 16 KiB
// (plus net/http's 4 KiB slack): beyond, 431 before any handler runs. A
// 512 KiB method used to be read whole and kept as a label.
func TestRunHeaderLimitAndAdminListener(t *testing.T) {
	if err := redisServer.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	addr, admin := proctest.FreeAddr(t), proctest.FreeAddr(t)
	env := runEnv(addr)
	env["API_ADMIN_ADDR"] = admin
	env["ADMIN_ADDR"] = admin // pprof joins the admin listener
	env["MONITORING_PASSWORD"] = "dashboard-password-0123"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out proctest.Buffer
	errc := proctest.RunInProcess(t, ctx, run, env, &out)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	waitHealthy(t, "http://"+addr, errc)

	big := strings.Repeat("x", 17<<10)
	for _, l := range []string{addr, admin} {
		if got := rawRequest(t, l, "GET", "/healthz", map[string]string{"X-Big": big}); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 17 KiB header answered %d, want 431", l, got)
		}
		if got := rawRequest(t, l, strings.Repeat("M", 512<<10), "/healthz", nil); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 512 KiB method answered %d, want 431", l, got)
		}
		if got := rawRequest(t, l, "GET", "/healthz", map[string]string{"X-Fits": strings.Repeat("x", 15<<10)}); got != http.StatusOK {
			t.Errorf("%s: 15 KiB header answered %d, want 200", l, got)
		}
		if got := rawRequest(t, l, "BREW", "/healthz", nil); got != http.StatusMethodNotAllowed {
			t.Errorf("%s: unknown method answered %d, want 405", l, got)
		}
	}

	// API_ADMIN_ADDR takes /metrics and the dashboard off the public port.
	get := func(base, path, pass string) int {
		req, _ := http.NewRequest("GET", "http://"+base+path, nil)
		if pass != "" {
			req.SetBasicAuth("ops", pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		base, path, pass string
		want             int
	}{
		{addr, "/metrics", "", 404},
		{addr, "/monitoring/", "dashboard-password-0123", 404},
		{addr, "/debug/pprof/", "", 404},
		{addr, "/readyz", "", 200},
		{admin, "/metrics", "", 200},
		{admin, "/monitoring/", "", 401},
		{admin, "/monitoring/", testKeys[0], 401},
		{admin, "/monitoring/", "dashboard-password-0123", 200},
		{admin, "/debug/pprof/", "", 200},
		{admin, "/v1/verifications/VE0", "", 404},
	} {
		if got := get(tc.base, tc.path, tc.pass); got != tc.want {
			t.Errorf("GET %s%s: %d, want %d", tc.base, tc.path, got, tc.want)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
