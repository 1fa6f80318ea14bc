// Package logmask is a slog.Handler that masks phone numbers in every
// message and attribute before they are written: a number may reach a log
// through an error string (Twilio's error messages quote the To number).
package logmask

import (
	"context"
	"log/slog"
	"regexp"
)

// phone matches E.164 numbers, also written with spaces, dots, dashes or
// brackets between the digits, and URL-encoded (%2B…).
var phone = regexp.MustCompile(`(?:\+|%2[Bb])\d(?:[ .()-]?\d){6,14}`)

// Mask keeps a number's first five and last two characters, so operators
// can still tell numbers apart and see the country: +1415******71.
func Mask(s string) string {
	return phone.ReplaceAllStringFunc(s, func(n string) string {
		if n[0] == '%' {
			n = "+" + n[3:]
		}
		return n[:5] + "******" + n[len(n)-2:]
	})
}

// Handler wraps another handler.
type Handler struct{ next slog.Handler }

// New wraps next.
func New(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return &Handler{next: h.next.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Mask(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = maskAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Mask(err.Error()))
		}
		return slog.Attr{Key: a.Key, Value: v}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
