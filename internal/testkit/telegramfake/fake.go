// Package telegramfake is an in-process stand-in for the Telegram Gateway API
// (https://core.telegram.org/gateway/api): sendVerificationMessage and
// revokeVerificationMessage at /METHOD_NAME, the token as "Authorization:
// Bearer …" or the access_token parameter, parameters in the query, a form
// or a JSON object, every answer {"ok":true,"result":…} or
// {"ok":false,"error":"…"}. It refuses what the documentation says Telegram
// refuses (see validate.go), so that a test cannot pass with a request
// production would have refused, and it signs delivery reports as Telegram
// does (see report.go). It never talks to Telegram.
//
// Where the documentation is silent the fake has to choose, and says so:
// the HTTP status of an ok:false answer is not documented, and the fake
// answers 200 (the envelope, not the status, carries the error); the error
// names beyond ACCESS_TOKEN_INVALID are not listed on the page either, and
// the fake uses those a published client maps (github.com/deus-developer/
// tgateway, tgateway/exceptions.py): ACCESS_TOKEN_REQUIRED,
// BALANCE_NOT_ENOUGH, CALLBACK_URL_INVALID, CODE_INVALID,
// CODE_LENGTH_INVALID, CODE_LENGTH_REQUIRED, PAYLOAD_INVALID,
// PHONE_NUMBER_INVALID, PHONE_NUMBER_NOT_FOUND, REQUEST_ID_INVALID,
// REQUEST_ID_REQUIRED, SENDER_NOT_OWNED, SENDER_USERNAME_INVALID,
// TTL_INVALID, UNKNOWN_METHOD, FLOOD_WAIT_<seconds>.
package telegramfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// The methods the fake serves, as Telegram spells them. Telegram's method
// names are case-insensitive; Request.Method is always spelt like this.
const (
	MethodSend   = "sendVerificationMessage"
	MethodRevoke = "revokeVerificationMessage"
)

// The statuses of a message's delivery_status, as Telegram names them.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusExpired   = "expired"
	StatusRevoked   = "revoked"
)

// Cost is what the fake charges for each message it accepts, in credits.
const Cost = 0.01

// Request is one request the fake received.
type Request struct {
	Method string // MethodSend, MethodRevoke, or the unknown path called
	// Params are its parameters from the query, a form or a JSON object,
	// numbers written as decimals; access_token is left out.
	Params     map[string]string
	At         time.Time
	HTTPStatus int    // what the fake answered
	Error      string // the ok:false error answered; "" when ok
	RequestID  string // an accepted send's request_id, a revocation's
	// Code is what an accepted send delivers: the code parameter, or the one
	// the fake made up for code_length.
	Code string
}

// Response scripts one answer to a request the fake would have accepted.
// The zero value is the normal answer.
type Response struct {
	// Error answers ok:false with it: "FLOOD_WAIT_3", "BALANCE_NOT_ENOUGH".
	Error  string
	Status int // HTTP status; 0 means 200
	// RawBody is sent verbatim instead of JSON. A Status other than 200
	// with neither Error nor RawBody answers the status's text in plain
	// text, as a proxy in front of Telegram would.
	RawBody    string
	RetryAfter string // Retry-After header
	Delay      time.Duration
	// DeliveryStatus replaces "sent" in an accepted send's delivery_status.
	DeliveryStatus string
}

// Server is the fake.
type Server struct {
	URL   string
	Token string

	// ReportClient posts delivery reports; nil means a client of its own.
	// Set it to an httptest TLS server's Client() to report to an https
	// receiver.
	ReportClient *http.Client

	srv *httptest.Server

	mu        sync.Mutex
	script    []Response
	requests  []Request
	sends     map[string]Request // request_id -> the accepted send
	revoked   []string
	noAccount map[string]bool // numbers without Telegram
	senders   map[string]bool // lower-cased usernames the account owns
	balance   float64
}

// Start runs a fake on a loopback port that accepts token, with a balance
// of 100 credits.
func Start(token string) *Server {
	s := &Server{Token: token, sends: map[string]Request{}, noAccount: map[string]bool{},
		senders: map[string]bool{}, balance: 100}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Script queues answers for the next valid requests, in order; after them
// the fake answers normally again.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	s.script = append(s.script, rs...)
	s.mu.Unlock()
}

// WithoutTelegram makes sends to these numbers (E.164) fail with
// PHONE_NUMBER_NOT_FOUND, as for a number no Telegram account uses.
func (s *Server) WithoutTelegram(numbers ...string) {
	s.mu.Lock()
	for _, n := range numbers {
		s.noAccount[n] = true
	}
	s.mu.Unlock()
}

// OwnSenders lets sends name these channels (usernames) as sender_username:
// Telegram only takes a verified channel the token's account owns.
func (s *Server) OwnSenders(usernames ...string) {
	s.mu.Lock()
	for _, u := range usernames {
		s.senders[strings.ToLower(u)] = true
	}
	s.mu.Unlock()
}

// SetBalance sets the account's credits; a send costs Cost, and one the
// balance cannot pay for is refused with BALANCE_NOT_ENOUGH.
func (s *Server) SetBalance(credits float64) {
	s.mu.Lock()
	s.balance = credits
	s.mu.Unlock()
}

// Requests returns every request received so far, refused ones included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Sent returns the accepted sends: the messages Telegram would deliver.
func (s *Server) Sent() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == MethodSend && r.Error == "" && r.HTTPStatus == http.StatusOK && r.RequestID != "" {
			out = append(out, r)
		}
	}
	return out
}

// Revoked returns the request_ids revoked so far, in order.
func (s *Server) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.revoked...)
}

// answer is what serve writes.
type answer struct {
	status     int
	err        string // ok:false
	result     any    // ok:true
	raw        string
	retryAfter string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: methodName(r.URL.Path), At: time.Now()}
	a := s.handle(r, &rec)
	rec.HTTPStatus = a.status
	if a.raw == "" {
		rec.Error = a.err
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	write(w, a)
}

// handle checks the token and the parameters, then answers the method or
// the script. Telegram refuses a malformed request whatever the script
// says, so the checks come first and leave the script for the next valid
// request.
func (s *Server) handle(r *http.Request, rec *Request) answer {
	params, err := readParams(r)
	if err != nil {
		return answer{status: http.StatusOK, err: err.Error()}
	}
	token := params["access_token"]
	delete(params, "access_token")
	rec.Params = params
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = h
	}
	switch {
	case token == "":
		return fail("ACCESS_TOKEN_REQUIRED")
	case token != s.Token:
		return fail("ACCESS_TOKEN_INVALID")
	case r.Method != http.MethodGet && r.Method != http.MethodPost:
		return fail("UNKNOWN_METHOD")
	}
	var check func(map[string]string) string
	switch rec.Method {
	case MethodSend:
		check = s.checkSend
	case MethodRevoke:
		check = s.checkRevoke
	default:
		return fail("UNKNOWN_METHOD")
	}
	if e := check(params); e != "" {
		return fail(e)
	}
	resp, ok := s.next(r.Context())
	if !ok {
		return answer{status: http.StatusServiceUnavailable, raw: "client gone"}
	}
	if resp.Error != "" || resp.RawBody != "" || (resp.Status != 0 && resp.Status != http.StatusOK) {
		return scripted(resp)
	}
	if rec.Method == MethodRevoke {
		return s.revoke(params, rec)
	}
	return s.send(params, rec, resp)
}

// next takes the next scripted answer and waits out its delay; ok is false
// when the client went away meanwhile.
func (s *Server) next(ctx context.Context) (Response, bool) {
	s.mu.Lock()
	var resp Response
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-ctx.Done():
			return resp, false
		}
	}
	return resp, true
}

// send accepts a message: it charges the account and answers the
// RequestStatus. Whether Telegram's answer carries a delivery_status at
// once is not documented ("returned only if a verification message was
// sent"); the fake says "sent", which a client must not rely on.
func (s *Server) send(p map[string]string, rec *Request, resp Response) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	phone := p["phone_number"]
	if s.noAccount[phone] {
		return fail("PHONE_NUMBER_NOT_FOUND")
	}
	if s.balance < Cost {
		return fail("BALANCE_NOT_ENOUGH")
	}
	s.balance -= Cost
	rec.RequestID = randomHex(8)
	rec.Code = p["code"]
	if rec.Code == "" {
		rec.Code = randomDigits(p["code_length"])
	}
	s.sends[rec.RequestID] = *rec
	status := StatusSent
	if resp.DeliveryStatus != "" {
		status = resp.DeliveryStatus
	}
	balance := s.balance // a copy: the answer is written after the lock is let go
	result := requestStatus{RequestID: rec.RequestID, PhoneNumber: phone, RequestCost: Cost,
		RemainingBalance: &balance, Payload: p["payload"],
		DeliveryStatus: &deliveryStatus{Status: status, UpdatedAt: time.Now().Unix()}}
	return answer{status: http.StatusOK, result: result}
}

func (s *Server) revoke(p map[string]string, rec *Request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.RequestID = p["request_id"]
	s.revoked = append(s.revoked, rec.RequestID)
	return answer{status: http.StatusOK, result: true}
}

// requestStatus is Telegram's RequestStatus.
type requestStatus struct {
	RequestID        string          `json:"request_id"`
	PhoneNumber      string          `json:"phone_number"`
	RequestCost      float64         `json:"request_cost"`
	IsRefunded       bool            `json:"is_refunded,omitempty"`
	RemainingBalance *float64        `json:"remaining_balance,omitempty"`
	DeliveryStatus   *deliveryStatus `json:"delivery_status,omitempty"`
	Payload          string          `json:"payload,omitempty"`
}

type deliveryStatus struct {
	Status    string `json:"status"`
	UpdatedAt int64  `json:"updated_at"`
}

func fail(e string) answer { return answer{status: http.StatusOK, err: e} }

func scripted(resp Response) answer {
	a := answer{status: resp.Status, err: resp.Error, raw: resp.RawBody, retryAfter: resp.RetryAfter}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.err == "" && a.raw == "" {
		a.raw = http.StatusText(a.status)
	}
	return a
}

func write(w http.ResponseWriter, a answer) {
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.raw != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.raw)
		return
	}
	body := struct {
		OK     bool   `json:"ok"`
		Result any    `json:"result,omitempty"`
		Error  string `json:"error,omitempty"`
	}{OK: a.err == "", Result: a.result, Error: a.err}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(body)
}

// methodName is the method a path names, spelt as Telegram documents it
// when it is one the fake serves.
func methodName(path string) string {
	m := strings.TrimPrefix(path, "/")
	for _, known := range []string{MethodSend, MethodRevoke} {
		if strings.EqualFold(m, known) {
			return known
		}
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
