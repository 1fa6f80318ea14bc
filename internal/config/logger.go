package config

import (
	"github.com/otpd/otpd/internal/logmask"
	"io"
	"log/slog"
)

// NewLogger returns the process logger in the configured format and
// level, with phone numbers masked.
func NewLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Numbers can reach a log inside error strings (Twilio quotes them).
	return slog.New(logmask.New(h))
}
