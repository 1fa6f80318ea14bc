// Package devsms is the development-only SMS sender: it writes the message,
// code included, to the log instead of sending it. config refuses to start
// without Twilio outside development, so this never runs in production.
package devsms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/otpd/otpd/otp"
)

// Sender logs messages.
type Sender struct{ log *slog.Logger }

// New returns a console sender.
func New(log *slog.Logger) *Sender { return &Sender{log: log} }

// Send implements otp.Sender. The line names the locale as the API shows
// it; a call's adds the language and voice it would be spoken in.
func (s *Sender) Send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	prefix := "SMdev"
	attrs := []any{"channel", m.Channel, "to", m.To, "body", m.Body, "locale", m.Locale}
	if m.Channel == otp.ChannelCall {
		prefix = "CAdev"
		attrs = append(attrs, "voice_language", m.Language, "voice", m.Voice)
	}
	sid := prefix + hex.EncodeToString(b)[:27]
	s.log.WarnContext(ctx, "DEVELOPMENT ONLY: "+otp.ChannelNoun(m.Channel)+" not sent, printed instead",
		append(attrs, "message_sid", sid)...)
	return otp.Receipt{MessageSID: sid, Status: otp.DeliverySent, Handled: "printed to the console, not sent"}, nil
}
