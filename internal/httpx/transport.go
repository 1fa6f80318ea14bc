// Package httpx holds what the service's outgoing HTTP clients share.
package httpx

import (
	"net/http"
	"time"
)

// Transport is Go's default transport with room for conns idle
// connections per host. The default keeps 2, so a worker with 100 requests
// in flight to one host (Twilio, a customer's webhook receiver) closes
// most connections after each answer and dials again: against Twilio, a
// TLS handshake per message.
func Transport(conns int) *http.Transport {
	if conns <= 0 {
		conns = 100
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.IdleConnTimeout = 90 * time.Second
	return t
}
