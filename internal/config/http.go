package config

import (
	"log/slog"
	"strings"

	"github.com/otpd/otpd/internal/logmask"
)

// HTTP is the api's listener and who may call it.
type HTTP struct {
	Addr    string   // HTTP_ADDR
	APIKeys []string // API_KEYS
	// PublicURL is the api's external URL (PUBLIC_URL): Twilio's status
	// callbacks and the dashboard's origin check are built on it.
	PublicURL string
	// AdminAddr, when set, moves /metrics and /monitoring/ off the public
	// listener onto this one (API_ADMIN_ADDR). The api requires it in
	// production (privateListeners).
	AdminAddr string
}

func (e *env) http() HTTP {
	h := HTTP{Addr: e.str("HTTP_ADDR", ":8080"), PublicURL: e.url("PUBLIC_URL", ""), AdminAddr: e.str("API_ADMIN_ADDR", "")}
	for _, k := range strings.Split(e.get("API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			h.APIKeys = append(h.APIKeys, k)
		}
	}
	// Port 0 is a free port each time (tests): two listeners, not one.
	if h.AdminAddr != "" && h.AdminAddr == h.Addr && !strings.HasSuffix(h.Addr, ":0") {
		e.bad("API_ADMIN_ADDR", "must differ from HTTP_ADDR: it exists to keep /metrics and /monitoring/ off the public listener")
	}
	return h
}

func (h HTTP) attrs() []slog.Attr {
	return []slog.Attr{slog.String("http_addr", h.Addr), slog.Int("api_keys", len(h.APIKeys)),
		slog.String("public_url", logmask.URL(h.PublicURL)), slog.String("api_admin_addr", h.AdminAddr)}
}

// Monitoring is the operators' side: the asynqmon dashboard and pprof.
type Monitoring struct {
	// ReadOnly keeps the dashboard from changing tasks.
	ReadOnly bool
	// Password, when set, is the dashboard's only password, so nobody
	// types an SMS-sending API key into a browser.
	Password string
	// PprofAddr, when set, serves net/http/pprof in both processes
	// (ADMIN_ADDR); keep it off the public network.
	PprofAddr string
}

func (e *env) monitoring() Monitoring {
	m := Monitoring{ReadOnly: e.boolean("MONITORING_READ_ONLY", true), Password: e.raw("MONITORING_PASSWORD"),
		PprofAddr: e.str("ADMIN_ADDR", "")}
	if m.Password != "" && len(m.Password) < 16 {
		e.bad("MONITORING_PASSWORD", "must be at least 16 characters")
	}
	return m
}

func (m Monitoring) attrs() []slog.Attr {
	return []slog.Attr{slog.String("monitoring_password", mask(m.Password))}
}
