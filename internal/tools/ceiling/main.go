// Command ceiling is the denominator of `make bench`: the least an HTTP
// request that runs one Redis script can cost on this machine. It is Gin
// in release mode with no middleware and one route, POST /ceiling, which
// decodes a small JSON body, runs ONE EVALSHA (HSET a key, PEXPIRE it) and
// answers a small JSON 200, over a Redis client built like the product's
// (internal/redisconn) but without its batching of concurrent scripts
// (NewUnbatched): the floor of a plain go-redis service. The load test drives it exactly as it drives the
// api's send and check, so the api's req/s and CPU per request are read as
// ratios to it: what otpd's own work costs above the floor that any Gin +
// go-redis service pays. It is not part of the production binaries.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/redisconn"
)

// script is the one Redis call per request: a write and an expiry, like
// the smallest of the product's scripts.
var script = redis.NewScript(`
redis.call('HSET', KEYS[1], 'code', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	redisURL := fs.String("redis", "", "Redis URL (required: the load test passes its throw-away Redis)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *redisURL == "" {
		// Never a default: writing into whatever Redis answers on
		// localhost is what make run stopped doing.
		return errors.New("-redis is required")
	}
	rdb, err := redisconn.NewUnbatched(*redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// Loaded once: every request is then one EVALSHA.
	if err := script.Load(ctx, rdb).Err(); err != nil {
		return fmt.Errorf("SCRIPT LOAD: %w", err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.POST("/ceiling", handle(rdb))
	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(stdout, "ceiling: listening on %s\n", *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type request struct {
	To   string `json:"to"`
	Code string `json:"code"`
}

func handle(rdb redis.Scripter) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req request
		if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 1<<10)).Decode(&req); err != nil || req.To == "" {
			c.JSON(http.StatusBadRequest, gin.H{"error": "bad body"})
			return
		}
		if err := script.EvalSha(c.Request.Context(), rdb, []string{"ceiling:" + req.To}, req.Code, 60_000).Err(); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "redis"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"ok": true, "to": req.To})
	}
}
