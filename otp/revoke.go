package otp

import (
	"context"
	"fmt"
)

// revokeUnread has the worker take back the Telegram messages of a
// verification that just ended (approved or canceled) that may still sit
// unread: its code is dead, and a user who opens Telegram later should not
// find it. Best effort: a failure is logged, and the code is dead anyway.
func (s *Service) revokeUnread(ctx context.Context, v Verification) {
	for _, a := range v.Attempts {
		if a.Channel != ChannelTelegram || a.MessageSID == "" || a.Status == DeliveryFailed || a.Status == DeliveryUndelivered {
			continue
		}
		if err := s.d.Queue.EnqueueRevoke(context.WithoutCancel(ctx), a.Channel, a.MessageSID); err != nil {
			s.d.Log.ErrorContext(ctx, "queue the revoke of an unread message", "verification", v.ID, "attempt", a.Attempt, "err", err)
		}
	}
}

// Revoke takes back one message (a task the api queued at approval or
// cancel).
func (s *Service) Revoke(ctx context.Context, channel, messageSID string) error {
	if s.d.Revoker == nil {
		return fmt.Errorf("%w: this service cannot revoke %s messages", ErrGaveUp, channel)
	}
	return s.d.Revoker.Revoke(ctx, channel, messageSID)
}
