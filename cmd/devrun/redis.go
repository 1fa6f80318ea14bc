package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/internal/redisconn"
)

// redisKind is where devrun's Redis comes from.
type redisKind int

const (
	// namedRedis is the one REDIS_URL (or REDIS_CLUSTER_ADDRS) names.
	namedRedis redisKind = iota
	// throwawayRedis is a redis-server of devrun's own: a free port on
	// 127.0.0.1, a temporary directory, no persistence, killed on exit.
	throwawayRedis
	// embeddedRedis is miniredis, in process, when redis-server is not
	// installed (or -embedded-redis asks for it).
	embeddedRedis
)

// redisChoice is the Redis devrun runs against: its kind, and what that
// kind needs (the URL, or the redis-server binary).
type redisChoice struct {
	kind    redisKind
	url     string // namedRedis: REDIS_URL
	cluster string // namedRedis: REDIS_CLUSTER_ADDRS, which wins over REDIS_URL
	bin     string // throwawayRedis
}

// chooseRedis picks the Redis: the one the environment (or .env) names,
// else a throw-away redis-server when one is on PATH, else the embedded
// one. Never a Redis that merely answers on localhost:6379: that one may
// be another program's, whose data a run would mix with its own.
func chooseRedis(getenv func(string) string, lookPath func(string) (string, error), embedded bool) redisChoice {
	url, cluster := strings.TrimSpace(getenv("REDIS_URL")), strings.TrimSpace(getenv("REDIS_CLUSTER_ADDRS"))
	switch {
	case embedded:
		return redisChoice{kind: embeddedRedis}
	case url != "" || cluster != "":
		return redisChoice{kind: namedRedis, url: url, cluster: cluster}
	}
	if bin, err := lookPath("redis-server"); err == nil {
		return redisChoice{kind: throwawayRedis, bin: bin}
	}
	return redisChoice{kind: embeddedRedis}
}

// startRedis starts the chosen Redis and says which it is. url is what
// the api and the worker get as REDIS_URL ("" for a cluster: they read
// REDIS_CLUSTER_ADDRS themselves). stop ends a Redis devrun started.
func startRedis(ctx context.Context, c redisChoice, stdout io.Writer) (url string, stop func(), err error) {
	switch {
	case c.kind == namedRedis && c.cluster != "":
		fmt.Fprintf(stdout, "devrun: using the Redis Cluster of REDIS_CLUSTER_ADDRS %s\n", c.cluster)
		return "", func() {}, nil
	case c.kind == namedRedis:
		fmt.Fprintf(stdout, "devrun: using the Redis of REDIS_URL %s\n", logmask.URL(c.url))
		return c.url, func() {}, nil
	case c.kind == throwawayRedis:
		r, err := startRedisServer(ctx, c.bin)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(stdout, "devrun: started a throw-away redis-server (%s) on %s: no persistence, gone when devrun stops.\n"+
			"devrun: set REDIS_URL (environment or .env) to use a Redis of your own.\n", c.bin, r.addr)
		return "redis://" + r.addr + "/0", r.stop, nil
	}
	m, err := startMiniredis(ctx)
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(stdout, "\n%s\ndevrun: started an EMBEDDED IN-MEMORY Redis (miniredis) at %s: redis-server is not on PATH\n"+
		"devrun: (or -embedded-redis). Everything is lost when this stops. For real use set REDIS_URL or install redis-server.\n%s\n\n",
		strings.Repeat("!", 78), m.Addr(), strings.Repeat("!", 78))
	return "redis://" + m.Addr() + "/0", m.Close, nil
}

// redisServer is a throw-away redis-server process.
type redisServer struct {
	addr string
	stop func()
}

// startRedisServer runs bin on a free port of 127.0.0.1, its files in a
// temporary directory, saving nothing, and waits until it answers. A port
// taken between the probe and redis-server's bind is retried.
func startRedisServer(ctx context.Context, bin string) (*redisServer, error) {
	dir, err := os.MkdirTemp("", "otpd-devrun-redis-")
	if err != nil {
		return nil, err
	}
	for range 5 {
		port, err := freePort()
		if err != nil {
			break
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if answers(ctx, addr, exited) {
			return &redisServer{addr: addr, stop: func() { stop(); os.RemoveAll(dir) }}, nil
		}
		stop()
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	os.RemoveAll(dir)
	return nil, fmt.Errorf("redis-server (%s) did not start:\n%s", bin, log)
}

// answers waits up to 5s for PONG from addr, giving up once exited closes.
func answers(ctx context.Context, addr string, exited <-chan struct{}) bool {
	rdb, err := redisconn.New("redis://" + addr + "/0")
	if err != nil {
		return false
	}
	defer rdb.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		return a.Port, nil
	}
	return 0, errors.New("no TCP port")
}

// startMiniredis runs an embedded Redis whose TTL clock follows real time
// (miniredis only expires keys when told time has passed).
func startMiniredis(ctx context.Context) (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, err
	}
	go func() {
		last := time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				m.SetTime(now)
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return m, nil
}
