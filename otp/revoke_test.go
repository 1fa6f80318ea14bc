package otp_test

import (
	"context"
	"slices"
	"testing"

	"github.com/otpd/otpd/otp"
)

// A verification that ends, by approval or cancel, has its Telegram
// messages taken back, unless Telegram already gave up on them.
func TestEndedVerificationRevokesTelegramMessages(t *testing.T) {
	for _, end := range []string{"approve", "cancel"} {
		t.Run(end, func(t *testing.T) {
			f := fixtureWith(t, func(p *otp.Policy) { p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelTelegram: true} })
			ctx := context.Background()
			v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: otp.ChannelTelegram})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySent, MessageSID: "req1"}); err != nil {
				t.Fatal(err)
			}
			if end == "approve" {
				if _, ok, err := f.Svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: f.Code(t, v)}); !ok || err != nil {
					t.Fatal(ok, err)
				}
			} else if _, _, err := f.Svc.Cancel(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
			if got := f.Queue.Revokes(); !slices.Equal(got, []string{"telegram:req1"}) {
				t.Fatalf("revokes %v", got)
			}
		})
	}
	// An SMS is never "revoked"; an expired Telegram message is gone already.
	f := fixtureWith(t, func(p *otp.Policy) { p.Channels = map[string]bool{otp.ChannelSMS: true, otp.ChannelTelegram: true} })
	ctx := context.Background()
	v, _, _ := f.Svc.Start(ctx, otp.StartRequest{To: num, Channel: otp.ChannelTelegram})
	if _, err := f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliveryUndelivered, MessageSID: "req2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Svc.Cancel(ctx, v.ID); err != nil || len(f.Queue.Revokes()) != 0 {
		t.Fatalf("revokes %v after an undelivered message: %v", f.Queue.Revokes(), err)
	}
}
