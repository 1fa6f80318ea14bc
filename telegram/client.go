// Package telegram sends codes through the Telegram Gateway API
// (https://core.telegram.org/gateway/api): our own code, delivered as a
// verification message by Telegram to the account that uses the number,
// with delivery reports posted, signed, to our callback URL.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/otpd/otpd/internal/httpx"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/otp"
)

// Channel is the channel this package sends on.
const Channel = otp.ChannelTelegram

// DefaultAPIURL is where the Gateway API answers.
const DefaultAPIURL = "https://gatewayapi.telegram.org"

// Limits of sendVerificationMessage, from the Gateway API page (ttl as of
// its change of February 26, 2025).
const (
	MinTTL         = 30 * time.Second
	MaxTTL         = time.Hour
	maxCallbackURL = 256 // bytes
	maxPayload     = 128 // bytes
)

// The methods called, as the page spells them.
const (
	methodSend   = "sendVerificationMessage"
	methodRevoke = "revokeVerificationMessage"
)

var (
	// codeRe is what the page takes as our own code: "fully numeric strings
	// between 4 and 8 characters".
	codeRe = regexp.MustCompile(`^[0-9]{4,8}$`)
	// usernameRe is a Telegram public username (a channel's): 5 to 32
	// letters, digits and underscores, from a letter.
	usernameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{4,31}$`)
)

// Config configures a Client.
type Config struct {
	// Token is the Gateway API token (the account settings' "Copy Token").
	Token string
	// APIURL replaces DefaultAPIURL: a fake in tests, an egress proxy in
	// production.
	APIURL string
	// SenderUsername is the verified channel the codes come from; "" for
	// Telegram's own "Verification Codes".
	SenderUsername string
	// Timeout bounds one HTTP request. It must stay well under the worker's
	// shutdown timeout so an in-flight send finishes before asynq gives up.
	Timeout time.Duration
	// Concurrency is how many requests may be in flight at once (the
	// worker's WORKER_CONCURRENCY): the idle connections kept alive. 0
	// means 100.
	Concurrency int
	Transport   http.RoundTripper // nil: a transport of its own, sized by Concurrency
}

// Client implements otp.Sender for Channel.
type Client struct {
	cfg  Config
	base string // the API URL without its trailing slash
	hc   *http.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	base, err := url.Parse(cfg.APIURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("telegram: bad API URL %q: want http(s)://host[/path]", logmask.URL(cfg.APIURL))
	}
	if cfg.Token == "" {
		return nil, errors.New("telegram: the Gateway API token is required")
	}
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// A pasted newline would break the Authorization header; the error
		// does not quote the token.
		return nil, errors.New("telegram: the Gateway API token has spaces or control characters")
	}
	// "@channel" is how people write a username; the API takes it bare.
	cfg.SenderUsername = strings.TrimPrefix(cfg.SenderUsername, "@")
	if cfg.SenderUsername != "" && !usernameRe.MatchString(cfg.SenderUsername) {
		return nil, fmt.Errorf("telegram: sender username %q is not a Telegram username", cfg.SenderUsername)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		rt = httpx.Transport(cfg.Concurrency)
	}
	return &Client{cfg: cfg, base: strings.TrimRight(base.String(), "/"), hc: &http.Client{
		Transport: rt,
		Timeout:   cfg.Timeout,
		// A redirect means the URL is wrong; following it would carry the
		// token along to wherever it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// sendParams are sendVerificationMessage's parameters.
type sendParams struct {
	PhoneNumber    string `json:"phone_number"`
	Code           string `json:"code"`
	TTL            int    `json:"ttl"`
	CallbackURL    string `json:"callback_url,omitempty"`
	Payload        string `json:"payload,omitempty"`
	SenderUsername string `json:"sender_username,omitempty"`
}

// requestStatus is the part of Telegram's RequestStatus a send reads.
type requestStatus struct {
	RequestID      string `json:"request_id"`
	DeliveryStatus *struct {
		Status string `json:"status"`
	} `json:"delivery_status"`
}

// Send has Telegram deliver m.Code to m.To. Telegram bills a message it
// accepts, so whatever it would refuse is refused here first, permanently
// and without a call.
func (c *Client) Send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	p, err := c.params(m)
	if err != nil {
		return otp.Receipt{}, &otp.SendError{Channel: Channel, Permanent: true, Err: err}
	}
	raw, err := c.call(ctx, methodSend, p)
	if err != nil {
		return otp.Receipt{}, err
	}
	// The message is accepted, and billed, whatever the result says: an
	// error now would have the queue send it again. A result without a
	// request_id still has its reports found by their payload.
	var rs requestStatus
	_ = json.Unmarshal(raw, &rs)
	if !ValidRequestID(rs.RequestID) {
		// Kept in a '|'-separated record and matched against reports: only
		// a plain id. Its reports are still found by their payload.
		rs.RequestID = ""
	}
	r := otp.Receipt{MessageSID: rs.RequestID, Status: otp.DeliverySending, Handled: "accepted by Telegram"}
	if rs.DeliveryStatus != nil {
		if s := MapStatus(rs.DeliveryStatus.Status); s != "" {
			r.Status = s
		}
	}
	return r, nil
}

// params builds m's parameters, or says why Telegram would refuse them.
// The errors name no code and mask the callback URL's query.
func (c *Client) params(m otp.Message) (sendParams, error) {
	switch {
	case m.Channel != Channel:
		return sendParams{}, fmt.Errorf("telegram: cannot send a %q message", m.Channel)
	case m.ValidFor < MinTTL:
		// Telegram's ttl starts at 30 s: a shorter life cannot be asked
		// for, and without a ttl the message would never be deleted.
		return sendParams{}, fmt.Errorf("telegram: %s of validity left, under Telegram's least ttl of %s: not sent", m.ValidFor, MinTTL)
	case !codeRe.MatchString(m.Code):
		return sendParams{}, fmt.Errorf("telegram: the code has %d characters, or not only digits: Telegram takes 4 to 8 digits", len(m.Code))
	case len(m.StatusCallback) > maxCallbackURL:
		return sendParams{}, fmt.Errorf("telegram: callback URL %s is %d bytes, over Telegram's %d", logmask.URL(m.StatusCallback), len(m.StatusCallback), maxCallbackURL)
	case len(m.Ref) > maxPayload:
		return sendParams{}, fmt.Errorf("telegram: reference is %d bytes, over Telegram's payload limit of %d", len(m.Ref), maxPayload)
	}
	return sendParams{
		PhoneNumber:    m.To,
		Code:           m.Code,
		TTL:            int(min(m.ValidFor, MaxTTL) / time.Second),
		CallbackURL:    m.StatusCallback,
		Payload:        m.Ref,
		SenderUsername: c.cfg.SenderUsername,
	}, nil
}

// Revoke asks Telegram to delete the message of an earlier send (its
// Receipt.MessageSID), say once its code was used or replaced. Telegram
// only promises to have received the request: a message already read is
// not deleted. Callers treat it as best effort.
func (c *Client) Revoke(ctx context.Context, requestID string) error {
	if requestID == "" {
		return &otp.SendError{Channel: Channel, Permanent: true, Err: errors.New("telegram: no request_id to revoke")}
	}
	raw, err := c.call(ctx, methodRevoke, map[string]string{"request_id": requestID})
	if err != nil {
		return err
	}
	var received bool
	if json.Unmarshal(raw, &received) != nil || !received {
		return &otp.SendError{Channel: Channel, HTTPStatus: http.StatusOK,
			Err: fmt.Errorf("telegram: %s answered %.20q, not true", methodRevoke, raw)}
	}
	return nil
}

// maxAnswer bounds what is read of one answer (Telegram's are a few
// hundred bytes).
const maxAnswer = 1 << 20

// call posts params as JSON to method and returns the result of an ok:true
// answer, or a *otp.SendError.
func (c *Client) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	body, err := json.Marshal(params)
	if err != nil {
		return nil, &otp.SendError{Channel: Channel, Permanent: true, Err: fmt.Errorf("telegram: %s: %w", method, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, &otp.SendError{Channel: Channel, Permanent: true, Err: fmt.Errorf("telegram: %s: %w", method, logmask.Error(err))}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		// A timeout, a refused connection, a cancelled context: nothing
		// says Telegram refused the message.
		return nil, &otp.SendError{Channel: Channel, Err: fmt.Errorf("telegram: %s: %w", method, logmask.Error(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, &otp.SendError{Channel: Channel, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("telegram: %s: reading the answer: %w", method, logmask.Error(err))}
	}
	var env struct {
		OK     *bool           `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if json.Unmarshal(raw, &env) != nil || env.OK == nil {
		return nil, httpError(method, resp.StatusCode, retryAfter(resp.Header))
	}
	if !*env.OK {
		return nil, c.apiError(method, env.Error, resp.StatusCode, retryAfter(resp.Header))
	}
	return env.Result, nil
}

// MapStatus maps a Telegram delivery status onto the service's; "" for a
// status Telegram does not document.
func MapStatus(s string) otp.DeliveryStatus {
	switch s {
	case "sent":
		return otp.DeliverySent
	case "delivered", "read":
		return otp.DeliveryDelivered
	case "expired":
		// Not delivered within its ttl (and refunded): the code did not
		// reach the user.
		return otp.DeliveryUndelivered
	case "revoked":
		return otp.DeliveryFailed
	default:
		return ""
	}
}
