package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/server"
)

// The worker's listeners (metrics, pprof) go through Serve: they bound
// request headers like the api's.
func TestServeBoundsHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	if _, err := server.Serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), "test", addr, ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header int
		want   int
	}{{15 << 10, 200}, {17 << 10, 431}, {24 << 10, 431}, {512 << 10, 431}} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		go fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n", strings.Repeat("x", tc.header))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: %v %v, want %d", tc.header, resp, err, tc.want)
		}
	}
}
