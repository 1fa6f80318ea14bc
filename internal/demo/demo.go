// Package demo is the example signup backend and page that `make run`
// serves (DEMO_ADDR, default localhost:8081): what a site that verifies
// phone numbers with otpd looks like, end to end. Its server side holds the
// API key and calls otpd through package client; the browser only talks to
// it. Plain HTML, CSS and a little JavaScript, embedded: no build step, no
// CDN, works offline.
package demo

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/otpd/otpd/client"
)

//go:embed static
var static embed.FS

//go:embed index.html
var indexHTML string

var page = template.Must(template.New("index").Parse(indexHTML))

// Options describe the otpd the page talks to.
type Options struct {
	// Channels are the channels otpd enables (CHANNELS); with more than
	// one, the page offers a choice, and a resend button for each ("Call
	// me instead").
	Channels []string
	// Cooldown is OTP_RESEND_COOLDOWN: the resend button counts it down.
	Cooldown   time.Duration
	CodeLength int
	Log        *slog.Logger
	// Hosts are the host names the page may be reached by, besides
	// localhost and loopback addresses: a request naming another host is
	// refused, so a web page cannot reach the demo through DNS rebinding.
	// A request that sends codes through such a name must also carry the
	// page's Origin (sameOrigin).
	Hosts []string
	// Addr is the address the demo listens on (host:port). When set, a
	// request must name its port in Host, as a browser that loaded the
	// page from it does.
	Addr string
}

// sessionCookie binds the verification to the browser that started it:
// the page never names a verification id, so it cannot check codes of
// verifications it did not start.
const sessionCookie = "otpd_demo"

// Handler serves the page and its two endpoints.
func Handler(c *client.Client, o Options) (http.Handler, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.CodeLength == 0 {
		o.CodeLength = 6
	}
	d := &demo{c: c, o: o, key: key}
	assets, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.Handle("POST /api/start", sameOrigin(http.HandlerFunc(d.start)))
	mux.Handle("POST /api/check", sameOrigin(http.HandlerFunc(d.check)))
	return knownHost(o.Hosts, o.Addr, securityHeaders(mux)), nil
}

type demo struct {
	c   *client.Client
	o   Options
	key []byte
}

func (d *demo) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, struct {
		Channels   []string
		Resends    []resend
		CodeLength int
	}{d.o.Channels, resends(d.o.Channels), d.o.CodeLength})
}

// resend is a resend button: its channel, and its words when the code
// last went by that channel (Again) or by another (Instead).
type resend struct{ ID, Channel, Again, Instead string }

// resends are the code step's resend buttons: one per enabled channel, or
// a single "Resend code" when there is one (or the channels are unknown,
// and otpd's default is asked for).
func resends(channels []string) []resend {
	if len(channels) <= 1 {
		ch := ""
		if len(channels) == 1 {
			ch = channels[0]
		}
		return []resend{{ID: "resend", Channel: ch, Again: "Resend code", Instead: "Resend code"}}
	}
	out := make([]resend, len(channels))
	for i, ch := range channels {
		out[i] = resend{ID: "resend-" + ch, Channel: ch, Again: "Resend by " + ch, Instead: "Send by " + ch + " instead"}
		switch ch {
		case "sms":
			out[i].Again, out[i].Instead = "Resend by SMS", "Send by SMS instead"
		case "whatsapp":
			out[i].Again, out[i].Instead = "Resend via WhatsApp", "Send via WhatsApp instead"
		case "call":
			out[i].Again, out[i].Instead = "Call me again", "Call me instead"
		case "telegram":
			out[i].Again, out[i].Instead = "Resend via Telegram", "Send via Telegram instead"
		}
	}
	return out
}

// reply is what the page gets: the step's result, or a problem code and
// how long to wait; the page turns codes into words.
type reply struct {
	To          string `json:"to,omitempty"`
	Channel     string `json:"channel,omitempty"`
	ResendAfter int    `json:"resendAfter,omitempty"` // seconds
	Verified    bool   `json:"verified,omitempty"`
	Error       string `json:"error,omitempty"` // otpd's problem code, wrong_code or malformed_code
	RetryAfter  int    `json:"retryAfter,omitempty"`
}

func (d *demo) start(w http.ResponseWriter, r *http.Request) {
	var in struct{ Phone, Channel string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, reply{Error: "invalid_request"})
		return
	}
	v, err := d.c.Start(r.Context(), client.StartRequest{To: strings.TrimSpace(in.Phone),
		Channel: client.Channel(in.Channel), ClientIP: clientIP(r)})
	if err != nil {
		d.fail(w, "start", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.sign(v.ID), Path: "/api/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(time.Until(v.ExpiresAt).Seconds()) + 60})
	writeJSON(w, http.StatusOK, reply{To: v.To, Channel: string(v.Channel), ResendAfter: int(d.o.Cooldown.Seconds())})
}

func (d *demo) check(w http.ResponseWriter, r *http.Request) {
	var in struct{ Code string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, reply{Error: "invalid_request"})
		return
	}
	cookie, err := r.Cookie(sessionCookie)
	id, ok := "", false
	if err == nil {
		id, ok = d.verify(cookie.Value)
	}
	if !ok {
		writeJSON(w, http.StatusBadRequest, reply{Error: "no_verification"})
		return
	}
	res, err := d.c.Check(r.Context(), client.CheckRequest{ID: id, Code: strings.TrimSpace(in.Code), ClientIP: clientIP(r)})
	switch {
	case err != nil:
		d.fail(w, "check", err)
	case res.Malformed:
		writeJSON(w, http.StatusOK, reply{Error: "malformed_code"})
	case !res.Valid:
		writeJSON(w, http.StatusOK, reply{Error: "wrong_code"})
	default:
		// Here a real backend marks the account's number as verified.
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/api/", MaxAge: -1})
		writeJSON(w, http.StatusOK, reply{Verified: true, To: res.To})
	}
}

// fail answers an otpd refusal with its code, and anything else (otpd
// unreachable) as unavailable; the page words both.
func (d *demo) fail(w http.ResponseWriter, op string, err error) {
	var e *client.Error
	if !errors.As(err, &e) || e.Code == "" {
		d.o.Log.Error("demo: otpd "+op, "err", err)
		writeJSON(w, http.StatusBadGateway, reply{Error: "unavailable"})
		return
	}
	status := e.Status
	if status >= 500 {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, reply{Error: string(e.Code), RetryAfter: int(e.RetryAfter.Seconds())})
}

func (d *demo) sign(id string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (d *demo) verify(v string) (string, bool) {
	id, _, ok := strings.Cut(v, ".")
	return id, ok && hmac.Equal([]byte(d.sign(id)), []byte(v))
}

// clientIP is the browser's address, for otpd's per-IP limits. The demo
// listens directly; behind a proxy, take it from the proxy's header.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// sameOrigin refuses what another site could make a browser send: the
// endpoints send codes (SMS or calls, which cost money) to any number, so
// only this page may call them. A cross-site form or no-cors fetch cannot
// send application/json; a cross-site fetch that can says so in
// Sec-Fetch-Site and Origin. A request without Origin is no browser's
// (browsers send it with every POST) but a program's, which must be on
// this machine: it has to name the loopback address the demo listens on,
// not one of Hosts, which anyone who reaches the listener can type.
func sameOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		site := r.Header.Get("Sec-Fetch-Site")
		origin := r.Header.Get("Origin")
		name, _ := hostPort(r.Host)
		switch {
		case ctype != "application/json":
			writeJSON(w, http.StatusUnsupportedMediaType, reply{Error: "invalid_request"})
		case site != "" && site != "same-origin":
			writeJSON(w, http.StatusForbidden, reply{Error: "forbidden"})
		case origin != "" && origin != "http://"+r.Host && origin != "https://"+r.Host:
			writeJSON(w, http.StatusForbidden, reply{Error: "forbidden"})
		case origin == "" && !loopback(name):
			writeJSON(w, http.StatusForbidden, reply{Error: "forbidden"})
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// knownHost refuses a request for a host name the demo does not answer to,
// or, when addr is set, for another port than the one it listens on.
func knownHost(hosts []string, addr string, h http.Handler) http.Handler {
	_, port := hostPort(addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, p := hostPort(r.Host)
		if !loopback(name) && !slices.Contains(hosts, name) || addr != "" && p != port {
			http.Error(w, "unknown host", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostPort splits a Host header or an address; a Host without a port
// names http's 80.
func hostPort(hostport string) (name, port string) {
	name, port, err := net.SplitHostPort(hostport)
	if err != nil {
		name, port = hostport, "80"
	}
	return strings.Trim(name, "[]"), port
}

func loopback(name string) bool {
	ip := net.ParseIP(name)
	return name == "localhost" || ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
