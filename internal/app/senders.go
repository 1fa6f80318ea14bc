package app

import (
	"context"
	"fmt"

	"github.com/otpd/otpd/otp"
)

// gateways hands each message to the gateway of its channel: Telegram's
// for telegram, the default one (Twilio, or the console) for the rest.
type gateways struct {
	fallback otp.Sender
	telegram telegramGateway // nil: telegram is not configured
}

// telegramGateway is the telegram package's client, as the worker uses it.
type telegramGateway interface {
	otp.Sender
	Revoke(ctx context.Context, requestID string) error
}

func (g gateways) Send(ctx context.Context, m otp.Message) (otp.Receipt, error) {
	if m.Channel == otp.ChannelTelegram {
		if g.telegram == nil {
			return otp.Receipt{}, &otp.SendError{Channel: m.Channel, Permanent: true, Account: true,
				Err: fmt.Errorf("no TELEGRAM_GATEWAY_TOKEN on this worker")}
		}
		return g.telegram.Send(ctx, m)
	}
	return g.fallback.Send(ctx, m)
}

// Revoke implements otp.Revoker: only Telegram takes messages back.
func (g gateways) Revoke(ctx context.Context, channel, sid string) error {
	if channel != otp.ChannelTelegram || g.telegram == nil {
		return fmt.Errorf("%w: %s messages cannot be taken back", otp.ErrGaveUp, channel)
	}
	return g.telegram.Revoke(ctx, sid)
}
