// Package twiliofake is an in-process stand-in for Twilio's Messages and
// Calls APIs (POST /2010-04-01/Accounts/{AccountSid}/Messages.json and
// .../Calls.json), answering like the real ones as described by Twilio's
// OpenAPI file: Basic auth with the account SID and auth token, form-encoded
// fields, a 201 message or call resource or a Twilio error JSON. It is no
// looser than Twilio: a request breaking the file's patterns, types or
// limits gets the 400 Twilio would answer (see validate.go and calls.go), so
// a test cannot pass with values production would refuse. Tests script
// faults into it; it never talks to Twilio.
package twiliofake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The kinds of Request, one per API the fake serves.
const (
	KindMessage = "message"
	KindCall    = "call"
)

// Request is one request the fake received.
type Request struct {
	Kind       string // KindMessage or KindCall
	AccountSID string
	Form       url.Values
	At         time.Time
	Status     int    // what the fake answered
	SID        string // MessageSid (SM...) or CallSid (CA...) when it answered 201
}

// Response scripts one answer. The zero value is a normal 201.
type Response struct {
	Status     int    // 0 means 201
	Code       int    // Twilio error code for an error JSON
	RawBody    string // sent verbatim instead of JSON (undecodable bodies)
	RetryAfter string // Retry-After header
	// MessageStatus replaces the status of a 201's message or call
	// ("queued").
	MessageStatus string
	Delay         time.Duration // extra latency for this answer
	// Hold, when not nil, blocks the answer until it is closed (or the
	// client goes away): a way to have a request "in flight" on demand.
	Hold chan struct{}
}

// Server is the fake.
type Server struct {
	URL        string
	AccountSID string
	AuthToken  string

	srv *httptest.Server

	mu       sync.Mutex
	latency  time.Duration
	script   []Response
	requests []Request
	changed  chan struct{}
	inFlight int
	waiters  map[string][]chan Request // To number -> Expect channels
	forget   bool                      // load tests: count, don't keep
	accepted int
	sequence map[string]int // CallSid -> next status callback SequenceNumber
	conns    int            // TCP connections accepted
	outage   int            // HTTP status every valid request gets while not 0
	drop     bool           // a request whose client went away is not accepted
}

// StatusAbandoned is the status recorded for a request whose client went
// away before the answer, when DropAbandoned is on (nginx's 499).
const StatusAbandoned = 499

// DropAbandoned chooses what a request does when its client goes away
// (a killed worker) before the answer: by default it is still accepted,
// as Twilio would accept a request it had in full; with drop it is not,
// as when the request never reached Twilio, and is recorded with
// StatusAbandoned. A chaos run uses it for the case where a crashed
// sender's SMS was not sent.
func (s *Server) DropAbandoned(drop bool) {
	s.mu.Lock()
	s.drop = drop
	s.mu.Unlock()
}

// codeUnavailable is Twilio's "Service Unavailable" error (20503).
const codeUnavailable = 20503

// SetOutage makes every valid request, message or call, fail with status
// (503 for Twilio being down) until SetOutage(0): an outage of any length,
// where Script answers a fixed number of requests. Nothing is accepted
// during it; each failed request is recorded with its status. A script
// queued meanwhile waits for the outage to end.
func (s *Server) SetOutage(status int) {
	s.mu.Lock()
	s.outage = status
	s.mu.Unlock()
}

// Forget stops keeping requests (Requests stays empty); AcceptedCount
// still counts. For load tests that send far more than memory should hold.
func (s *Server) Forget() {
	s.mu.Lock()
	s.forget = true
	s.mu.Unlock()
}

// AcceptedCount is the number of requests, messages and calls, answered 201
// so far.
func (s *Server) AcceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Expect returns a channel that receives the next message or call accepted
// for to, the To form value exactly as sent ("+14155552671" for an SMS or a
// call, "whatsapp:+14155552671" for WhatsApp). Call it before the send, so
// that a request that comes back quickly is not missed.
func (s *Server) Expect(to string) <-chan Request {
	ch := make(chan Request, 1)
	s.mu.Lock()
	if s.waiters == nil {
		s.waiters = map[string][]chan Request{}
	}
	s.waiters[to] = append(s.waiters[to], ch)
	s.mu.Unlock()
	return ch
}

// Connections is the number of TCP connections the fake accepted: a
// client that keeps its connections alive opens few (against Twilio each
// one is a TLS handshake).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// InFlight is the number of requests received and not yet answered.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// Start runs a fake on a loopback port. The account SID must match
// Twilio's pattern (AC and 32 hex digits) so that no test passes with a SID
// Twilio would refuse; it panics otherwise. The token must be alphanumeric,
// as twilio-go refuses anything else before sending.
func Start(accountSID, authToken string) *Server {
	if !accountSIDRe.MatchString(accountSID) {
		panic(fmt.Sprintf("twiliofake: account SID %q does not match Twilio's pattern %s", accountSID, accountSIDRe))
	}
	s := &Server{AccountSID: accountSID, AuthToken: authToken, changed: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetLatency delays every answer by d (a realistic Twilio takes ~150 ms).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Script queues answers for the next requests, in order; after them the
// fake answers 201 again.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	s.script = append(s.script, rs...)
	s.mu.Unlock()
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Accepted returns the requests answered 201, of both kinds: the messages
// Twilio would send and the calls it would place.
func (s *Server) Accepted() []Request { return s.accepted201("") }

// Messages returns the accepted messages (SMS, WhatsApp, ...).
func (s *Server) Messages() []Request { return s.accepted201(KindMessage) }

// Calls returns the accepted calls.
func (s *Server) Calls() []Request { return s.accepted201(KindCall) }

// accepted201 filters the 201s by kind; "" keeps both.
func (s *Server) accepted201(kind string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Status == http.StatusCreated && (kind == "" || r.Kind == kind) {
			out = append(out, r)
		}
	}
	return out
}

// WaitRequests blocks until at least n requests arrived or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) ([]Request, error) {
	for {
		s.mu.Lock()
		got, ch := len(s.requests), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Requests(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Requests(), fmt.Errorf("twiliofake: %d of %d requests: %w", got, n, ctx.Err())
		}
	}
}

// pathRe routes both APIs; the second group names the resource.
var pathRe = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]*)/(Messages|Calls)\.json$`)

// resources holds what differs between the two APIs the fake serves.
var resources = map[string]struct {
	kind     string
	validate func(url.Values) *apiError
	prefix   string // of the SID a 201 gets
	write    func(http.ResponseWriter, Request, Response)
}{
	"Messages": {KindMessage, validate, "SM", writeMessage},
	"Calls":    {KindCall, validateCall, "CA", writeCall},
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// A malformed account SID makes the URL match no route, as at Twilio.
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost || !accountSIDRe.MatchString(m[1]) {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.AccountSID || pass != s.AuthToken || m[1] != s.AccountSID {
		writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 21600, "Unparseable form")
		return
	}
	res := resources[m[2]]
	// Twilio refuses a malformed request whatever the script says, so the
	// check comes first and leaves the script for the next valid request.
	if e := res.validate(r.PostForm); e != nil {
		writeError(w, e.status, e.code, e.msg)
		s.record(Request{Kind: res.kind, AccountSID: m[1], Form: r.PostForm, At: time.Now(), Status: e.status}, false)
		return
	}

	s.mu.Lock()
	if outage := s.outage; outage != 0 {
		s.mu.Unlock()
		writeError(w, outage, codeUnavailable, "Service Unavailable")
		s.record(Request{Kind: res.kind, AccountSID: m[1], Form: r.PostForm, At: time.Now(), Status: outage}, false)
		return
	}
	resp := Response{}
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
	}
	delay := s.latency + resp.Delay
	drop := s.drop
	s.inFlight++
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	if resp.Hold != nil {
		select {
		case <-resp.Hold:
		case <-r.Context().Done():
		}
	}

	status := resp.Status
	if status == 0 {
		status = http.StatusCreated
	}
	if drop && r.Context().Err() != nil {
		status = StatusAbandoned
	}
	rec := Request{Kind: res.kind, AccountSID: m[1], Form: r.PostForm, At: time.Now(), Status: status}
	// A client that went away mid-request never sees the answer; the fake
	// still "sent" the SMS or placed the call, as Twilio would have.
	if status == http.StatusCreated {
		rec.SID = res.prefix + randomHex(16)
		res.write(w, rec, resp)
	} else {
		writeScripted(w, resp, status, r.PostForm)
	}

	s.record(rec, true)
}

// record keeps an answered request and wakes whoever waits for it;
// inFlight says whether it was counted by InFlight.
func (s *Server) record(rec Request, inFlight bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inFlight {
		s.inFlight--
	}
	if !s.forget {
		s.requests = append(s.requests, rec)
	}
	if rec.Status == http.StatusCreated {
		s.accepted++
		to := rec.Form.Get("To")
		for _, ch := range s.waiters[to] {
			ch <- rec
		}
		delete(s.waiters, to)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func writeScripted(w http.ResponseWriter, resp Response, status int, form url.Values) {
	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	if resp.RawBody != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprint(w, resp.RawBody)
		return
	}
	msg := "scripted error"
	if resp.Code == codeInvalidTo { // as Twilio words it, number included
		msg = fmt.Sprintf("The 'To' number %s is not a valid phone number.", form.Get("To"))
	}
	writeError(w, status, resp.Code, msg)
}

// writeMessage answers 201 with the message resource. A scripted Code on a
// 201 is a message Twilio accepted but already knows failed: its
// error_code is set and its status is failed (or resp.MessageStatus).
func writeMessage(w http.ResponseWriter, rec Request, resp Response) {
	now := time.Now().UTC().Format(time.RFC1123Z)
	f := rec.Form
	var ms any
	if v := f.Get("MessagingServiceSid"); v != "" {
		ms = v
	}
	body := map[string]any{
		"account_sid": rec.AccountSID, "api_version": "2010-04-01", "body": f.Get("Body"),
		"date_created": now, "date_sent": nil, "date_updated": now, "direction": "outbound-api",
		"error_code": nil, "error_message": nil, "from": f.Get("From"), "messaging_service_sid": ms,
		"num_media": "0", "num_segments": "1", "price": nil, "price_unit": "USD",
		"sid": rec.SID, "status": "queued", "to": f.Get("To"),
		"uri":              "/2010-04-01/Accounts/" + rec.AccountSID + "/Messages/" + rec.SID + ".json",
		"subresource_uris": map[string]string{"media": "/2010-04-01/Accounts/" + rec.AccountSID + "/Messages/" + rec.SID + "/Media.json"},
	}
	if ms != nil && f.Get("From") == "" {
		body["from"] = nil
	}
	if resp.Code != 0 {
		body["error_code"], body["error_message"], body["status"] = resp.Code, "scripted error", "failed"
	}
	if resp.MessageStatus != "" {
		body["status"] = resp.MessageStatus
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
