package topology

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

const apiKey = "topology-key-0123456789abcdef"

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

func requireEnabled(t testing.TB) {
	t.Helper()
	if reason, ok := enabled(); !ok {
		if os.Getenv("OTPD_TOPOLOGY_TESTS") == "1" && !testing.Short() {
			proctest.Lack(t, reason) // asked for, and cannot run
		}
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
func startRedis(t testing.TB, name string, args func(port int, dir string) []string) *redisNode {
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

// stack is the api and worker binaries running against redisURL and a
// fake Twilio.
type stack struct {
	*stacktest.Stack
	http *http.Client
}

func startStack(t testing.TB, redisURL string, extra map[string]string) *stack {
	t.Helper()
	env := map[string]string{
		"API_KEYS":   apiKey,
		"OTP_SECRET": "topology-secret-topology-secret-topology",
		// Many numbers share a prefix in these tests; the default prefix
		// cap (30/10m) would refuse them.
		"PREFIX_SEND_LIMITS": "100000/10m",
	}
	maps.Copy(env, extra)
	s := stacktest.Start(t, stacktest.Config{Bin: binDir, RedisURL: redisURL, Env: env})
	return &stack{Stack: s, http: &http.Client{Timeout: 5 * time.Second}}
}

// call makes an API request; err is a transport error (no status).
func (s *stack) call(method, path string, body any) (int, map[string]any, error) {
	return s.Call(s.http, apiKey, method, path, body)
}

func (s *stack) mustCall(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := s.call(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, out
}

// sms waits for an SMS to each number and returns its code by number.
func (s *stack) codes(t testing.TB, d time.Duration, numbers ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	proctest.WaitFor(t, d, fmt.Sprintf("SMS to %v", numbers), func() bool {
		for _, r := range s.Fake.Accepted() {
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
