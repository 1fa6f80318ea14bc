package config

import (
	"io"
	"log/slog"

	"github.com/otpd/otpd/internal/logmask"
)

// NewLogger returns the process logger in the configured format and
// level, with phone numbers masked.
func NewLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.App.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.App.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Numbers can reach a log inside error strings (Twilio quotes them).
	return slog.New(logmask.New(h))
}
