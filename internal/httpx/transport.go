// Package httpx holds what the service's outgoing HTTP clients share.
package httpx

import (
	"crypto/tls"
	"net/http"
	"time"
)

// Transport is Go's default transport with room for conns idle
// connections per host. The default keeps 2, so a worker with 100 requests
// in flight to one host (Twilio, a customer's webhook receiver) closes
// most connections after each answer and dials again: against Twilio, a
// TLS handshake per message. (Over HTTP/2 requests share connections and
// the limit matters less.)
func Transport(conns int) *http.Transport {
	if conns <= 0 {
		conns = 100
	}
	t := &http.Transport{}
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		t = d.Clone() // its proxy from the environment, dial and TLS timeouts
	}
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	// Shorter than Go's 90 s: a NAT or an egress proxy may drop an idle
	// connection silently, and a send on it would wait for its timeout.
	t.IdleConnTimeout = 30 * time.Second
	// A connection dialed again resumes its TLS session: no full handshake.
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(conns)
	return t
}
