// Package twilio sends codes through Twilio with twilio-go: SMS and WhatsApp
// messages through the Messages API, voice calls through the Calls API.
package twilio

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/otpd/otpd/internal/httpx"
	"github.com/otpd/otpd/internal/logmask"
	"github.com/otpd/otpd/otp"
)

// Config configures a Sender.
type Config struct {
	AccountSID          string
	AuthToken           string
	From                string // TWILIO_PHONE_NUMBER; used when MessagingServiceSID is empty
	MessagingServiceSID string
	// WhatsAppFrom is the WhatsApp sender's number (TWILIO_WHATSAPP_FROM);
	// without it WhatsApp goes through the messaging service.
	WhatsAppFrom string
	// WhatsAppContentSID is an approved WhatsApp template (HX…) whose
	// variable {{1}} is the code; without it the text is the body, which
	// Twilio's sandbox takes but business-initiated WhatsApp does not.
	WhatsAppContentSID string
	// VoiceFrom is the caller id of calls (TWILIO_VOICE_FROM, or From).
	VoiceFrom string
	// APIURL replaces https://api.twilio.com: a fake in tests, a gateway or
	// an egress proxy in production.
	APIURL string
	// Timeout bounds one HTTP request. It must stay well under the worker's
	// shutdown timeout so an in-flight send finishes before asynq gives up.
	Timeout time.Duration
	// Concurrency is how many requests may be in flight at once (the
	// worker's WORKER_CONCURRENCY): the idle connections kept alive. 0
	// means 100.
	Concurrency int
	Transport   http.RoundTripper // nil: a transport of its own, sized by Concurrency
}

// Sender implements otp.Sender.
type Sender struct {
	cfg  Config
	base *url.URL
	rt   http.RoundTripper
}

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	base, err := url.Parse(cfg.APIURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("twilio: bad API URL %q", cfg.APIURL)
	}
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, errors.New("twilio: account SID and auth token are required")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" && cfg.WhatsAppFrom == "" && cfg.VoiceFrom == "" {
		return nil, errors.New("twilio: a From number or a messaging service SID is required")
	}
	if cfg.VoiceFrom == "" {
		cfg.VoiceFrom = cfg.From
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		rt = httpx.Transport(cfg.Concurrency)
	}
	return &Sender{cfg: cfg, base: base, rt: rt}, nil
}

// maxValidity is Twilio's upper bound for ValidityPeriod (seconds).
const maxValidity = 36000

// Send sends one message or places one call. Its refusal names the
// channel, so that a failed call is not logged as an SMS.
func (s *Sender) Send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	r, err := s.send(ctx, m)
	var se *otp.SendError
	if errors.As(err, &se) && se.Channel == "" {
		se.Channel = cmp.Or(m.Channel, otp.ChannelSMS)
	}
	if err == nil {
		r.Handled = "accepted by Twilio"
	}
	return r, err
}

// send is Send's work. twilio-go builds its requests without a context, so
// each call gets its own small client whose transport carries ctx
// (cancellation, the task deadline) and rewrites the base URL.
func (s *Sender) send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	if m.ValidFor < otp.MinValidity {
		// Without a ValidityPeriod Twilio would hold a dead code for ten hours.
		return otp.Receipt{}, &otp.SendError{Permanent: true,
			Err: fmt.Errorf("twilio: %s of validity left, under %s: not sent", m.ValidFor, otp.MinValidity)}
	}
	tr := &transport{ctx: ctx, base: s.base, next: s.rt}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(s.cfg.AccountSID, s.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport:     tr,
			Timeout:       s.cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.cfg.AccountSID)
	api := twapi.NewApiServiceWithClient(c)
	var r otp.Receipt
	var err error
	switch m.Channel {
	case otp.ChannelCall:
		r, err = s.call(api, m)
	case otp.ChannelWhatsApp:
		r, err = s.message(api, m, true)
	default:
		r, err = s.message(api, m, false)
	}
	if err != nil {
		var se *otp.SendError
		if errors.As(err, &se) {
			return r, err
		}
		var rest *twclient.TwilioRestError
		if errors.As(err, &rest) && rest.Status == 0 {
			// A JSON error without Twilio's fields (a proxy's, or null)
			// is judged by its HTTP status, not taken for a permanent one.
			rest.Status = tr.answer()
		}
		return r, classify(err, tr.retryAfter())
	}
	return r, nil
}

// message creates one Message: an SMS, or a WhatsApp message.
func (s *Sender) message(api *twapi.ApiService, m otp.Message, whatsapp bool) (otp.Receipt, error) {
	p := &twapi.CreateMessageParams{}
	p.SetTo(m.To)
	from := s.cfg.From
	if whatsapp {
		p.SetTo("whatsapp:" + m.To)
		from = ""
		if s.cfg.WhatsAppFrom != "" {
			from = "whatsapp:" + s.cfg.WhatsAppFrom
		}
	}
	switch {
	case from != "" && (whatsapp || s.cfg.MessagingServiceSID == ""):
		p.SetFrom(from)
	case s.cfg.MessagingServiceSID != "":
		p.SetMessagingServiceSid(s.cfg.MessagingServiceSID)
	default:
		return otp.Receipt{}, &otp.SendError{Permanent: true, Err: fmt.Errorf("twilio: no sender configured for %s", m.Channel)}
	}
	if whatsapp && s.cfg.WhatsAppContentSID != "" {
		vars, _ := json.Marshal(map[string]string{"1": m.Code})
		p.SetContentSid(s.cfg.WhatsAppContentSID)
		p.SetContentVariables(string(vars))
	} else {
		p.SetBody(m.Body)
	}
	if m.StatusCallback != "" {
		p.SetStatusCallback(m.StatusCallback)
	}
	p.SetValidityPeriod(min(int(m.ValidFor/time.Second), maxValidity))

	msg, err := api.CreateMessage(p)
	if err != nil {
		return otp.Receipt{}, err
	}
	r := otp.Receipt{Status: otp.DeliverySending}
	if msg.Sid != nil {
		r.MessageSID = *msg.Sid
	}
	if msg.Status != nil {
		r.Status = MapStatus(*msg.Status)
	}
	if msg.ErrorCode != nil && *msg.ErrorCode != 0 {
		// Accepted, yet already failed (a 201 whose status is failed, say):
		// the code says why.
		r.ErrorCode = *msg.ErrorCode
	}
	return r, nil
}

// MapStatus maps a Twilio message status onto the service's delivery status.
func MapStatus(s string) otp.DeliveryStatus {
	switch s {
	case "sent":
		return otp.DeliverySent
	case "delivered", "read":
		return otp.DeliveryDelivered
	case "undelivered", "partially_delivered":
		// Some segments of a multi-part message did not arrive, and the
		// code may be in one of them: for the user it did not arrive.
		return otp.DeliveryUndelivered
	case "failed", "canceled":
		return otp.DeliveryFailed
	default: // queued, accepted, scheduled, sending
		return otp.DeliverySending
	}
}

func classify(err error, retryAfter time.Duration) error {
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		return &otp.SendError{
			Permanent:  !transientStatus(rest.Status) && !transientCodes[rest.Code],
			HTTPStatus: rest.Status,
			Code:       rest.Code,
			RetryAfter: retryAfter,
			// Twilio's message quotes the To number, and this error ends
			// up in asynq's task record (shown by the dashboard) and logs.
			Err: errors.New(logmask.Mask(rest.Error())),
		}
	}
	// Network errors, timeouts, and error bodies twilio-go could not decode
	// (a proxy's HTML 502, say): nothing says the message was refused.
	return &otp.SendError{Permanent: false, RetryAfter: retryAfter, Err: err}
}

func transientStatus(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }

// transport points requests at the configured base URL, binds them to the
// caller's context and remembers a Retry-After from the answer.
type transport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper

	mu     sync.Mutex
	after  time.Duration
	status int // the last answer's HTTP status
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	r.URL.Scheme = t.base.Scheme
	r.URL.Host = t.base.Host
	r.URL.Path = strings.TrimRight(t.base.Path, "/") + req.URL.Path
	r.Host = ""
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.status = resp.StatusCode
	if d := parseRetryAfter(resp.Header.Get("Retry-After")); d > 0 {
		t.after = d
	}
	t.mu.Unlock()
	// The connection goes back to the pool only once its answer is read to
	// the end and closed, and twilio-go neither drains nor closes an error
	// answer it cannot decode (a proxy's HTML 502): read it all here.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// maxAnswer bounds what is read of one answer of Twilio's (a few KB).
const maxAnswer = 1 << 20

func (t *transport) answer() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func (t *transport) retryAfter() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.after
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
