package httpx_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/httpx"
)

// Two waves of concurrent requests: the second reuses the first's
// connections when the transport keeps enough idle, and dials again when
// it keeps Go's default two.
func TestTransportKeepsConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(30 * time.Millisecond) // so the wave's requests overlap
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	const n = 30
	wave := func(t *testing.T, c *http.Client) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	for _, tc := range []struct {
		name    string
		rt      *http.Transport
		reusing bool
	}{
		{"sized", httpx.Transport(n), true},
		{"zero means 100", httpx.Transport(0), true},
		{"Go's default", http.DefaultTransport.(*http.Transport).Clone(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.rt.CloseIdleConnections()
			c := &http.Client{Transport: tc.rt}
			wave(t, c)
			first := conns.Load()
			wave(t, c)
			again := conns.Load() - first
			if tc.reusing && again != 0 {
				t.Fatalf("second wave dialed %d new connections", again)
			}
			if !tc.reusing && again < n/2 {
				t.Fatalf("the control kept its connections (%d new): the test cannot tell", again)
			}
		})
	}
}
