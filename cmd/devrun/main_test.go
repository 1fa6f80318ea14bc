package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/proctest"
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

func TestChooseRedis(t *testing.T) {
	installed := func(string) (string, error) { return "/usr/bin/redis-server", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		lookPath func(string) (string, error)
		embedded bool
		want     redisChoice
	}{
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://db:6379/2"}, installed, false,
			redisChoice{kind: namedRedis, url: "redis://db:6379/2"}},
		{"REDIS_URL to localhost, on purpose", map[string]string{"REDIS_URL": "redis://localhost:6379/0"}, missing, false,
			redisChoice{kind: namedRedis, url: "redis://localhost:6379/0"}},
		{"REDIS_CLUSTER_ADDRS", map[string]string{"REDIS_CLUSTER_ADDRS": "h1:7000,h2:7001"}, installed, false,
			redisChoice{kind: namedRedis, cluster: "h1:7000,h2:7001"}},
		{"nothing named, redis-server installed", nil, installed, false,
			redisChoice{kind: throwawayRedis, bin: "/usr/bin/redis-server"}},
		{"nothing named, no redis-server", nil, missing, false, redisChoice{kind: embeddedRedis}},
		{"blank REDIS_URL", map[string]string{"REDIS_URL": "  "}, missing, false, redisChoice{kind: embeddedRedis}},
		{"-embedded-redis wins", map[string]string{"REDIS_URL": "redis://db:6379/2"}, installed, true, redisChoice{kind: embeddedRedis}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chooseRedis(env(tc.vars), tc.lookPath, tc.embedded); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// The throw-away redis-server is on loopback, on a port of its own, saves
// nothing, and is gone with its files once stopped.
func TestThrowawayRedisServer(t *testing.T) {
	bin := proctest.Need(t, "redis-server", "apt-get install redis-server")
	r, err := startRedisServer(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(r.addr)
	if host != "127.0.0.1" || port == "6379" {
		t.Fatalf("listens on %s", r.addr)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	for param, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		got, err := rdb.ConfigGet(t.Context(), param).Result()
		if err != nil || got[param] != want {
			t.Errorf("CONFIG GET %s = %v %v, want %q", param, got, err, want)
		}
	}
	dir, err := rdb.ConfigGet(t.Context(), "dir").Result()
	if err != nil || !strings.Contains(dir["dir"], "otpd-devrun-redis-") {
		t.Fatalf("dir %v %v", dir, err)
	}
	r.stop()
	if err := rdb.Ping(t.Context()).Err(); err == nil {
		t.Error("still answers after stop")
	}
	if _, err := os.Stat(dir["dir"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", dir["dir"], err)
	}
}

// Without REDIS_URL, make run gives the api and the worker a Redis of its
// own, whatever answers on localhost:6379, and says so. The api and the
// worker here are scripts that note the REDIS_URL they were given.
func TestRunWithoutRedisURL(t *testing.T) {
	proctest.Need(t, "redis-server", "apt-get install redis-server")
	t.Chdir(t.TempDir())
	bin := t.TempDir()
	for _, name := range []string{"api", "worker"} {
		script := "#!/bin/sh\nprintf '%s' \"$REDIS_URL\" > \"$0.redis-url\"\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := run(ctx, []string{filepath.Join(bin, "devrun")}, env(map[string]string{"DEMO_ADDR": "127.0.0.1:0"}), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "started a throw-away redis-server") || strings.Contains(out.String(), "6379") {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, name := range []string{"api", "worker"} {
		b, err := os.ReadFile(filepath.Join(bin, name+".redis-url"))
		if err != nil {
			t.Fatal(err)
		}
		opt, err := redis.ParseURL(string(b))
		if err != nil || !strings.HasPrefix(opt.Addr, "127.0.0.1:") || strings.HasSuffix(opt.Addr, ":6379") {
			t.Fatalf("%s got REDIS_URL %q (%v)", name, b, err)
		}
		// devrun stopped it on its way out.
		rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, MaxRetries: -1, DialerRetries: 1})
		if err := rdb.Ping(t.Context()).Err(); err == nil {
			t.Errorf("the throw-away Redis at %s outlived devrun", opt.Addr)
		}
		rdb.Close()
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

// A first `make run` compiles every dependency for minutes: make says so
// before it starts, instead of leaving a newcomer in silence, and says
// nothing once bin/ exists.
func TestMakeRunWarnsOfTheFirstBuild(t *testing.T) {
	mk := proctest.Need(t, "make", "apt-get install make")
	bin := filepath.Join(t.TempDir(), "bin")
	for _, first := range []bool{true, false} {
		// GO=true: the recipe runs, the build does not.
		out, err := exec.Command(mk, "-C", "../..", "--no-print-directory", "build", "BIN="+bin, "GO=true").CombinedOutput()
		if err != nil {
			t.Fatalf("make build: %v\n%s", err, out)
		}
		if warned := strings.Contains(string(out), "first build") && strings.Contains(string(out), "minutes"); warned != first {
			t.Fatalf("first build %v: make said:\n%s", first, out)
		}
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
