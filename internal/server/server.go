// Package server runs the HTTP listeners of both processes (the api's,
// its admin listener, the worker's metrics, pprof) with one set of limits
// and timeouts, and probes them for container health checks.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Serve runs h on addr until ctx ends, then shuts it down gracefully.
// It returns once the listener is up (or failed), so start-up errors
// surface at start-up.
func Serve(ctx context.Context, log *slog.Logger, name, addr string, h http.Handler) (done <-chan error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := NewHTTPServer(h, log)
	ch := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ch <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("listening", "listener", name, "addr", ln.Addr().String())
	return ch, nil
}

// MaxHeaderBytes bounds a request's line and headers on every listener;
// beyond, net/http answers 431. Go's default of 1 MiB let a made-up method
// of 512 KiB through.
const MaxHeaderBytes = 16 << 10

// headerSlack is what net/http reads beyond http.Server.MaxHeaderBytes
// before it refuses (its initial read limit adds 4 KiB).
const headerSlack = 4 << 10

// NewHTTPServer is the server of every listener of both processes, with
// the header limit and timeouts that keep a slow or huge request header
// from holding resources. No write timeout: a CPU profile streams for 30s;
// the API sets its own.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    MaxHeaderBytes - headerSlack,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// NewPublicServer is NewHTTPServer for a listener that takes requests from
// clients (the api's, the development demo's): a whole request is bounded
// too, not only its header, and so is writing the answer (the api's
// requestTimeout stays below it).
func NewPublicServer(h http.Handler, log *slog.Logger) *http.Server {
	srv := NewHTTPServer(h, log)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 15 * time.Second
	return srv
}

// AdminHandler serves net/http/pprof. It is only ever mounted on ADMIN_ADDR,
// never on the API's address: profiles reveal memory contents.
func AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
