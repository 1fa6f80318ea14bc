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

// Send implements otp.Sender.
func (s *Sender) Send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	prefix, what := "SMdev", "SMS"
	switch m.Channel {
	case otp.ChannelWhatsApp:
		what = "WhatsApp message"
	case otp.ChannelCall:
		prefix, what = "CAdev", "call"
	}
	sid := prefix + hex.EncodeToString(b)[:27]
	s.log.WarnContext(ctx, "DEVELOPMENT ONLY: "+what+" not sent, printed instead",
		"channel", m.Channel, "to", m.To, "body", m.Body, "language", m.Language, "message_sid", sid)
	return otp.Receipt{MessageSID: sid, Status: otp.DeliverySent}, nil
}
