// Command devrun is `make run`: it starts the api and the worker for local
// development, against the Redis REDIS_URL names, or else a throw-away
// redis-server (or, without one on PATH, an embedded in-memory Redis) that
// it starts itself, and serves the example signup page on loopback. It is a
// developer convenience, not a production entry point, and refuses to be
// one (devOnly).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/demo"
	"github.com/otpd/otpd/internal/server"
	"github.com/otpd/otpd/otp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devrun:", err)
		os.Exit(1)
	}
}

// defaultDemoAddr is where the demo listens unless DEMO_ADDR says otherwise.
const defaultDemoAddr = "localhost:8081"

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	getenv, err := config.WithDotEnv(getenv, ".env")
	if err != nil {
		return err
	}
	demoAddr := or(getenv("DEMO_ADDR"), defaultDemoAddr)
	if err := devOnly(getenv("APP_ENV"), demoAddr); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	embedded := len(args) > 1 && args[1] == "-embedded-redis"
	redisURL, stopRedis, err := startRedis(ctx, chooseRedis(getenv, exec.LookPath, embedded), stdout)
	if err != nil {
		return err
	}
	defer stopRedis()

	env := append(os.Environ(), "LOG_FORMAT="+or(getenv("LOG_FORMAT"), "text"))
	if redisURL != "" {
		env = append(env, "REDIS_URL="+redisURL)
	}
	procs, exited, err := startProcs(filepath.Dir(args[0]), env, stdout)
	if err != nil {
		return err
	}
	port := cfg.HTTP.Addr
	if strings.HasPrefix(port, ":") {
		port = "localhost" + port
	}
	demoURL, stopDemo, err := startDemo(cfg, port, demoAddr, stdout)
	if err != nil {
		fmt.Fprintf(stdout, "devrun: the demo signup page did not start: %v\n", err)
	} else {
		defer stopDemo()
	}
	banner(stdout, port, shownKey(cfg.HTTP.APIKeys[0]), or(demoURL, "(not running)"))

	select {
	case <-ctx.Done():
	case <-exited:
		fmt.Fprintln(stdout, "devrun: a process exited")
	}
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		_ = p.Wait()
	}
	return nil
}

// devOnly refuses what would make the launcher a service for others: it
// prints an API key, runs the api beside a page whose backend sends SMS
// and calls to any number for whoever reaches it, and is not how
// production starts (that is bin/api and bin/worker, or deploy/).
func devOnly(appEnv, demoAddr string) error {
	var errs []error
	if strings.TrimSpace(appEnv) == "production" {
		errs = append(errs, errors.New("APP_ENV=production: devrun (make run) is for development only; "+
			"in production run bin/api and bin/worker, or see deploy/"))
	}
	if host, _, err := net.SplitHostPort(demoAddr); err != nil || !loopbackHost(host) {
		errs = append(errs, fmt.Errorf("DEMO_ADDR=%q: the demo page sends SMS and calls to any number for whoever reaches it, "+
			"so it listens on loopback only: localhost:8081, 127.0.0.1:8081 or [::1]:8081", demoAddr))
	}
	return errors.Join(errs...)
}

// loopbackHost reports a host name or address of this machine only; ""
// (every interface) is not.
func loopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// shownKey is the API key as the banner shows it: the development key,
// which is published anyway, or a placeholder for a real one, so that it
// does not land in terminal scrollback and screen shares.
func shownKey(key string) string {
	if key == config.DevAPIKey {
		return key
	}
	return "<a key from API_KEYS>"
}

// startProcs runs the api and the worker from binDir with env, their
// output prefixed with their names; exited closes once both have ended.
func startProcs(binDir string, env []string, stdout io.Writer) (procs []*exec.Cmd, exited <-chan struct{}, err error) {
	var wg sync.WaitGroup
	for _, name := range []string{"api", "worker"} {
		cmd := exec.Command(filepath.Join(binDir, name))
		cmd.Env = env
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return procs, nil, fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		wg.Go(func() {
			s := bufio.NewScanner(out)
			for s.Scan() {
				fmt.Fprintf(stdout, "%-6s | %s\n", name, s.Text())
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return procs, done, nil
}

// banner says where everything runs, and how to try the API.
func banner(stdout io.Writer, addr, key, demoURL string) {
	fmt.Fprintf(stdout, `
devrun: api on http://%[1]s, worker running.

devrun: demo signup page on %[3]s (its backend holds the API key; the code is
        printed below by the worker)

Or try the API:

  curl -s -X POST http://%[1]s/v1/verifications -H 'Authorization: Bearer %[2]s' \
       -H 'Content-Type: application/json' -d '{"to": "+14155552671"}'

  # without Twilio credentials the worker prints the SMS (and its code) below;
  # add "locale": "fr", or "channel": "call" or "whatsapp" once CHANNELS in .env has them
  curl -s -X POST http://%[1]s/v1/verifications/check -H 'Authorization: Bearer %[2]s' \
       -H 'Content-Type: application/json' -d '{"to": "+14155552671", "code": "<code>"}'

Ctrl-C stops everything.

`, addr, key, demoURL)
}

// startDemo serves the example signup page and backend (internal/demo)
// on addr, talking to the api at apiAddr through the Go client, with the
// api's limits and timeouts; url is where it listens.
func startDemo(cfg config.Config, apiAddr, addr string, stdout io.Writer) (url string, stop func(), err error) {
	c, err := client.New("http://"+apiAddr, cfg.HTTP.APIKeys[0])
	if err != nil {
		return "", nil, err
	}
	var channels []string
	for _, ch := range otp.Channels {
		if cfg.Channels.Enabled[ch] {
			channels = append(channels, ch)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	// A port of 0 (tests) becomes the one the listener got.
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addr = net.JoinHostPort(host, port)
	log := slog.New(slog.NewTextHandler(stdout, nil)).With("process", "demo")
	h, err := demo.Handler(c, demo.Options{Channels: channels, Cooldown: cfg.Codes.Cooldown, CodeLength: cfg.Codes.Length,
		Log: log, Addr: addr})
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	srv := server.NewPublicServer(h, log)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + addr, func() { _ = srv.Close() }, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
