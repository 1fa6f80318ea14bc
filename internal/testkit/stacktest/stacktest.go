// Package stacktest runs the api and worker binaries as an operator runs
// them: in production mode (or development mode, without Twilio) against a
// Redis and a fake Twilio, each a process of the test, killed by PID when
// the test ends. The end-to-end suite, the topology suite and the demo's
// browser test start their stacks here.
package stacktest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// The fake Twilio's account and the sender number every stack uses.
const (
	AccountSID = "AC0123456789abcdef0123456789abcdef"
	AuthToken  = "authtoken0123456789"
	From       = "+15005550006"
)

// BaseURL, as a value of Config.Env, stands for the api's own URL (for
// PUBLIC_URL, so that Twilio's callbacks reach the api).
const BaseURL = "$BASE_URL"

// Config says what to run.
type Config struct {
	// Bin is the directory of the api and worker binaries (proctest.Build).
	Bin string
	// RedisURL is the Redis to use; "" starts a throw-away redis-server.
	RedisURL string
	// Env is added to the environment, after the defaults: a key here
	// wins. The defaults are proctest.ProductionEnv, or with Development a
	// development environment without Twilio, whose worker prints each
	// message instead of sending it.
	Env         map[string]string
	Development bool
}

// Stack is a running api and worker.
type Stack struct {
	API, Worker *proctest.Proc
	// Base is the api's URL.
	Base string
	// Fake is the fake Twilio (nil in development mode).
	Fake *twiliofake.Server
	// Redis is the throw-away server (nil when Config.RedisURL was given).
	Redis *redistest.Server
	// Env is both processes' environment.
	Env map[string]string
	bin string
}

// Start runs the api and the worker and waits until the api is ready.
func Start(t testing.TB, c Config) *Stack {
	t.Helper()
	s := &Stack{bin: c.Bin}
	redisURL := c.RedisURL
	if redisURL == "" {
		rs, err := redistest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rs.Close)
		s.Redis, redisURL = rs, rs.URL()
	}
	addr := proctest.FreeAddr(t)
	s.Base = "http://" + addr
	if c.Development {
		s.Env = map[string]string{"APP_ENV": "development", "REDIS_URL": redisURL, "HTTP_ADDR": addr,
			"LOG_FORMAT": "json", "WORKER_METRICS_ADDR": "127.0.0.1:0", "PATH": os.Getenv("PATH")}
	} else {
		s.Fake = twiliofake.Start(AccountSID, AuthToken)
		t.Cleanup(s.Fake.Close)
		s.Env = proctest.ProductionEnv(redisURL, addr, s.Fake)
		s.Env["TWILIO_PHONE_NUMBER"] = From
	}
	maps.Copy(s.Env, c.Env)
	for k, v := range s.Env {
		if v == BaseURL {
			s.Env[k] = s.Base
		}
	}
	s.API = s.Run(t, "api", s.Env)
	s.Worker = s.Run(t, "worker", s.Env)
	if err := proctest.WaitHTTP(s.Base+"/readyz", 30*time.Second, proctest.Gone(s.API, s.Worker)); err != nil {
		t.Fatal(err)
	}
	return s
}

// Run starts another process of the stack's binaries (a second worker, a
// restarted api) with env as its whole environment.
func (s *Stack) Run(t testing.TB, name string, env map[string]string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, filepath.Join(s.bin, name), proctest.Environ(env))
}

// Call sends a JSON request to the api with key as its bearer token and
// decodes the JSON answer (nil when there is none); err is a transport
// error, with no status. It is for what the client package does not cover:
// the tutorial's routes, raw answers, requests across a failover.
func (s *Stack) Call(c *http.Client, key, method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}
