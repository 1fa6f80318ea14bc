package server

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Probe is the `-healthcheck` mode of both binaries, for images without a
// shell or curl (distroless): GET /readyz on the process's own listener
// (addr such as ":8080") and fail unless it answers 200 within 2s.
// addr "" means def.
func Probe(addr, def string) error {
	if addr == "" {
		addr = def
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: bad address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /readyz answered %d", resp.StatusCode)
	}
	return nil
}
