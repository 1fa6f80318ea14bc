package telegramfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Sign computes X-Request-Signature as the Gateway API page documents it
// ("Checking report integrity"): the hex HMAC-SHA-256 of the timestamp, a
// line feed and the raw body, keyed by the SHA-256 of the API token.
func Sign(token, ts string, body []byte) string {
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Report posts a delivery report for the accepted send requestID to the
// callback_url it was sent with, as Telegram does: a RequestStatus JSON
// with the send's payload, signed with X-Request-Timestamp and
// X-Request-Signature. It returns the HTTP status the receiver answered.
// Telegram retries a report answered with anything but 200 up to 10 times;
// the fake posts once and leaves retrying to the test. It only posts to a
// loopback host: a fake never sends traffic off the machine.
func (s *Server) Report(ctx context.Context, requestID, status string) (int, error) {
	s.mu.Lock()
	send, ok := s.sends[requestID]
	s.mu.Unlock()
	cb := send.Params["callback_url"]
	switch {
	case !ok:
		return 0, fmt.Errorf("telegramfake: no accepted send has request_id %q", requestID)
	case !slices.Contains([]string{StatusSent, StatusDelivered, StatusRead, StatusExpired, StatusRevoked}, status):
		return 0, fmt.Errorf("telegramfake: %q is not a delivery status Telegram reports", status)
	case cb == "":
		return 0, fmt.Errorf("telegramfake: send %s has no callback_url", requestID)
	}
	if u, err := url.Parse(cb); err != nil || !loopback(u.Hostname()) {
		return 0, fmt.Errorf("telegramfake: callback_url %q is not on a loopback host; the fake does not post off the machine", cb)
	}
	body, err := json.Marshal(requestStatus{
		RequestID: requestID, PhoneNumber: send.Params["phone_number"], RequestCost: Cost,
		// The fee of a message not delivered within its ttl is refunded.
		IsRefunded:     status == StatusExpired,
		DeliveryStatus: &deliveryStatus{Status: status, UpdatedAt: time.Now().Unix()},
		Payload:        send.Params["payload"],
	})
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Timestamp", ts)
	req.Header.Set("X-Request-Signature", Sign(s.Token, ts, body))
	c := s.ReportClient
	if c == nil {
		// Not following redirects keeps the report on the loopback host.
		c = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
