package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// drainTimeout bounds how long SIGTERM waits for in-flight requests; every
// request is itself bounded by requestTimeout, so this is generous.
const drainTimeout = 15 * time.Second

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	cfg, log, err := config.Startup(getenv, stdout, "api")
	if err != nil {
		return err
	}

	rdb, err := config.NewRedis(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	aq := asynq.NewClientFromRedisClient(rdb)
	defer aq.Close()

	codec, err := otp.NewCodec(cfg.OTPSecret, cfg.CodeLength, rand.Reader)
	if err != nil {
		return err
	}
	svc := otp.NewService(codec, otp.NewStore(rdb), tasks.NewQueue(aq), otp.Policy{
		TTL: cfg.OTPTTL, Retention: cfg.Retention, Cooldown: cfg.ResendCooldown,
		MaxSends: cfg.MaxSends, MaxChecks: cfg.MaxChecks, DefaultRegion: cfg.DefaultRegion,
	}, time.Now, log)

	srv := &http.Server{
		Handler:           newHandler(log, svc, cfg.APIKeys, codec.Length(), webhookConfig{PublicURL: cfg.PublicURL, AuthToken: cfg.TwilioAuthToken}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
