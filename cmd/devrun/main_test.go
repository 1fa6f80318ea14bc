package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// devrun is for a developer's machine: production, or a demo page that
// others can reach (it sends SMS and calls to any number), is refused.
func TestDevOnly(t *testing.T) {
	for _, tc := range []struct {
		appEnv, demoAddr string
		want             []string // the variables the error names; none: runs
	}{
		{"", "localhost:8081", nil},
		{"development", "127.0.0.1:8081", nil},
		{"test", "[::1]:8081", nil},
		{"development", "127.0.0.2:0", nil},
		{"production", "localhost:8081", []string{"APP_ENV=production"}},
		{" production ", "localhost:8081", []string{"APP_ENV=production"}},
		{"development", "0.0.0.0:8081", []string{"DEMO_ADDR"}},
		{"development", ":8081", []string{"DEMO_ADDR"}},
		{"development", "[::]:8081", []string{"DEMO_ADDR"}},
		{"development", "192.168.1.10:8081", []string{"DEMO_ADDR"}},
		{"development", "devbox.local:8081", []string{"DEMO_ADDR"}},
		{"development", "localhost", []string{"DEMO_ADDR"}},
		{"production", "0.0.0.0:8081", []string{"APP_ENV=production", "DEMO_ADDR"}},
	} {
		t.Run(tc.appEnv+" "+tc.demoAddr, func(t *testing.T) {
			err := devOnly(tc.appEnv, tc.demoAddr)
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(tc.want) > 0 && err == nil {
				t.Fatalf("runs, want a refusal naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name %s", err, w)
				}
			}
		})
	}
}

// The refusal comes first: before the configuration (a production one
// would be complete, Twilio credentials included), before any Redis or
// process is started, and before the banner prints a key.
func TestRunRefusesProduction(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, vars := range []map[string]string{
		{"APP_ENV": "production", "API_KEYS": "a-real-key-0123456789", "OTP_SECRET": strings.Repeat("s", 40),
			"TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN": "token", "TWILIO_PHONE_NUMBER": "+15005550006"},
		{"DEMO_ADDR": "0.0.0.0:8081"},
	} {
		var out strings.Builder
		// No binaries beside args[0]: getting as far as starting them would fail otherwise.
		err := run(t.Context(), []string{filepath.Join(t.TempDir(), "devrun")}, env(vars), &out)
		if err == nil || !strings.Contains(err.Error(), "APP_ENV=production") && !strings.Contains(err.Error(), "DEMO_ADDR") {
			t.Fatalf("%v: run = %v, want a refusal", vars, err)
		}
		if out.Len() > 0 {
			t.Errorf("%v: printed before refusing:\n%s", vars, out.String())
		}
	}
	// .env counts as much as the environment.
	if err := os.WriteFile(".env", []byte("APP_ENV=production\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"devrun"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
		t.Fatalf("APP_ENV=production in .env: run = %v", err)
	}
}

// The demo's server has the api's limits: a header of half a megabyte is
// refused, not read; and it answers only to the loopback address it
// listens on.
func TestDemoServerLimits(t *testing.T) {
	cfg, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := startDemo(cfg, "127.0.0.1:1", "127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addr := strings.TrimPrefix(url, "http://")
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("url %s: want the port the listener got", url)
	}
	for _, tc := range []struct {
		name, request string
		want          int
	}{
		{"the page", "GET / HTTP/1.1\r\nHost: " + addr + "\r\n", 200},
		{"the page by localhost", "GET / HTTP/1.1\r\nHost: localhost:" + addr[strings.LastIndex(addr, ":")+1:] + "\r\n", 200},
		{"a 500 KB header", "GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Big: " + strings.Repeat("x", 500<<10) + "\r\n", 431},
		{"a foreign Host", "GET / HTTP/1.1\r\nHost: evil.example:" + addr[strings.LastIndex(addr, ":")+1:] + "\r\n", 421},
		{"a send for a foreign Host, no Origin", "POST /api/start HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n" +
			"Content-Length: 2\r\n\r\n{}", 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			req := tc.request
			if !strings.Contains(req, "\r\n\r\n") {
				req += "\r\n"
			}
			go fmt.Fprint(conn, strings.Replace(req, "\r\n", "\r\nConnection: close\r\n", 1))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != tc.want {
				t.Fatalf("%v %v, want %d", resp, err, tc.want)
			}
			resp.Body.Close()
		})
	}
}
