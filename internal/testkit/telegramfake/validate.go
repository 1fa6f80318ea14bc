package telegramfake

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The limits below are the Gateway API page's (core.telegram.org/gateway/api,
// sendVerificationMessage), as of its change of February 26, 2025, which
// narrowed ttl to 30..3600 seconds.
const (
	minTTL, maxTTL         = 30, 3600
	maxCallbackURL         = 256 // bytes
	maxPayload             = 128 // bytes
	minCodeLen, maxCodeLen = 4, 8
	maxBody                = 1 << 20
)

var (
	// e164 is the E.164 form the page asks for: a plus and up to 15 digits.
	e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	// code is "fully numeric strings between 4 and 8 characters".
	code = regexp.MustCompile(`^[0-9]{4,8}$`)
	// username is a Telegram public username: 5 to 32 letters, digits and
	// underscores, from a letter.
	username = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{4,31}$`)
)

// errBody is the fake's own word for a body it cannot read: Telegram's is
// not documented, and no client this project writes sends one.
var errBody = errors.New("BODY_INVALID")

// readParams gathers a request's parameters from its query and its body (a
// form or a JSON object), the body winning, as the page allows all three.
func readParams(r *http.Request) (map[string]string, error) {
	p := map[string]string{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	if r.Method != http.MethodPost {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var obj map[string]any
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return p, errBody
		}
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				p[k] = v
			case json.Number:
				p[k] = v.String()
			case bool:
				p[k] = strconv.FormatBool(v)
			case nil:
			default: // an object or an array is no parameter's value
				return p, errBody
			}
		}
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return p, errBody
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	}
	return p, nil
}

// checkSend returns the error Telegram would answer to a malformed
// sendVerificationMessage, "" for a valid one.
func (s *Server) checkSend(p map[string]string) string {
	c, hasCode := p["code"]
	switch {
	case !e164.MatchString(p["phone_number"]):
		return "PHONE_NUMBER_INVALID"
	case hasCode && !code.MatchString(c):
		return "CODE_INVALID"
	case !hasCode && p["code_length"] == "":
		return "CODE_LENGTH_REQUIRED"
	case !hasCode && !intIn(p["code_length"], minCodeLen, maxCodeLen):
		return "CODE_LENGTH_INVALID"
	case p["ttl"] != "" && !intIn(p["ttl"], minTTL, maxTTL):
		return "TTL_INVALID"
	case !validCallback(p["callback_url"]):
		return "CALLBACK_URL_INVALID"
	case len(p["payload"]) > maxPayload:
		return "PAYLOAD_INVALID"
	case p["request_id"] != "":
		// An id from checkSendAbility, which the fake does not serve.
		return "REQUEST_ID_INVALID"
	}
	if u, ok := p["sender_username"]; ok {
		if !username.MatchString(u) {
			return "SENDER_USERNAME_INVALID"
		}
		s.mu.Lock()
		owned := s.senders[strings.ToLower(u)]
		s.mu.Unlock()
		if !owned {
			return "SENDER_NOT_OWNED"
		}
	}
	return ""
}

// checkRevoke does for revokeVerificationMessage what checkSend does.
func (s *Server) checkRevoke(p map[string]string) string {
	id := p["request_id"]
	if id == "" {
		return "REQUEST_ID_REQUIRED"
	}
	s.mu.Lock()
	_, known := s.sends[id]
	s.mu.Unlock()
	if !known {
		return "REQUEST_ID_INVALID"
	}
	return ""
}

// intIn reports whether v is a decimal integer in [lo, hi].
func intIn(v string, lo, hi int) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= lo && n <= hi
}

// validCallback: "An HTTPS URL …, 0-256 bytes". Plain http is let through
// for a loopback host only, so that tests can receive reports on an
// httptest server; production never names one.
func validCallback(v string) bool {
	if v == "" {
		return true
	}
	u, err := url.Parse(v)
	if len(v) > maxCallbackURL || err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && loopback(u.Hostname()))
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// randomDigits makes up a code of length n (a decimal, already checked).
func randomDigits(n string) string {
	l, _ := strconv.Atoi(n)
	b := make([]byte, l)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}
