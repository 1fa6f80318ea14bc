package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/proctest"
	"github.com/otpd/otpd/internal/redistest"
	"github.com/otpd/otpd/internal/twiliofake"
)

const (
	sid    = "AC0123456789abcdef0123456789abcdef"
	token  = "authtoken0123456789"
	apiKey = "topology-key-0123456789abcdef"
	from   = "+15005550006"
)

// binDir holds the api and worker binaries, built once by TestMain when
// the tests are enabled.
var binDir string

func enabled() (reason string, ok bool) {
	if os.Getenv("OTPD_TOPOLOGY_TESTS") != "1" {
		return "Redis topology tests are off: set OTPD_TOPOLOGY_TESTS=1 (make test-redis-topologies)", false
	}
	if testing.Short() {
		return "-short: skipping the Redis topology tests", false
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "redis-server not installed", false
	}
	return "", true
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests' own clients poll servers that are still starting or were
	// killed on purpose: keep go-redis's dial errors out of the output.
	redis.SetLogger(quietLogger{})
	if _, ok := enabled(); !ok {
		os.Exit(m.Run()) // every test skips
	}
	dir, err := proctest.Build(true, "api", "worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func requireEnabled(t *testing.T) {
	t.Helper()
	if reason, ok := enabled(); !ok {
		t.Skip(reason)
	}
}

// redisNode is one redis-server process (a server or a sentinel).
type redisNode struct {
	*proctest.Proc
	addr string
	dir  string
}

func (n *redisNode) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, DialerRetries: 1})
}

// startRedis launches redis-server on a free loopback port. args(port)
// gives the command line; the config file, if any, must come first.
func startRedis(t *testing.T, name string, args func(port int, dir string) []string) *redisNode {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		port := proctest.FreePort(t)
		dir := t.TempDir()
		n := &redisNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
		n.Proc = proctest.Start(t, name, "redis-server", nil, args(port, dir)...)
		if redistest.WaitPing(n.addr, 5*time.Second, n.Exited) {
			return n
		}
		n.Kill() // port taken meanwhile, most likely: try another
	}
	t.Fatalf("%s did not start", name)
	return nil
}

// serverArgs are the arguments of a plain throw-away server.
func serverArgs(port int, dir string, extra ...string) []string {
	return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, extra...)
}

// infoField reads one field of INFO section from a server.
func infoField(ctx context.Context, c *redis.Client, section, field string) string {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stack is the api and worker binaries running against redisURL and a
// fake Twilio.
type stack struct {
	api, worker *proctest.Proc
	base        string
	fake        *twiliofake.Server
	http        *http.Client
}

func startStack(t *testing.T, redisURL string, extra map[string]string) *stack {
	t.Helper()
	fake := twiliofake.Start(sid, token)
	t.Cleanup(fake.Close)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(proctest.FreePort(t)))
	vars := proctest.ProductionEnv(redisURL, addr, fake)
	vars["API_KEYS"] = apiKey
	vars["OTP_SECRET"] = "topology-secret-topology-secret-topology"
	vars["TWILIO_PHONE_NUMBER"] = from
	// Many numbers share a prefix in these tests; the default prefix cap
	// (30/10m) would refuse them.
	vars["PREFIX_SEND_LIMITS"] = "100000/10m"
	for k, v := range extra {
		vars[k] = v
	}
	env := proctest.Environ(vars)
	s := &stack{base: "http://" + addr, fake: fake, http: &http.Client{Timeout: 5 * time.Second}}
	s.api = proctest.Start(t, "api", filepath.Join(binDir, "api"), env)
	s.worker = proctest.Start(t, "worker", filepath.Join(binDir, "worker"), env)
	waitFor(t, 30*time.Second, "the api to be ready", func() bool {
		if s.api.Exited() || s.worker.Exited() {
			t.Fatalf("api or worker exited:\napi: %s\nworker: %s", proctest.Tail(s.api.Output(), 2000), proctest.Tail(s.worker.Output(), 2000))
		}
		resp, err := s.http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

// call makes an API request; err is a transport error (no status).
func (s *stack) call(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func (s *stack) mustCall(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := s.call(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, out
}

// sms waits for an SMS to each number and returns its code by number.
func (s *stack) codes(t *testing.T, d time.Duration, numbers ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	waitFor(t, d, fmt.Sprintf("SMS to %v", numbers), func() bool {
		for _, r := range s.fake.Accepted() {
			if code := twiliofake.CodeIn(r.Form.Get("Body")); code != "" {
				got[r.Form.Get("To")] = code
			}
		}
		for _, n := range numbers {
			if got[n] == "" {
				return false
			}
		}
		return true
	})
	return got
}
