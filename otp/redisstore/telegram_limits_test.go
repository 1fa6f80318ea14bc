package redisstore_test

import (
	"context"
	"testing"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// Telegram has a budget of its own on top of the shared ones, as calls do.
func TestTelegramBudget(t *testing.T) {
	ctx := context.Background()
	g := redisstore.NewLimits(client(t), redisstore.LimitConfig{TelegramBudgetPerMinute: 2, BudgetPerMinute: 10})
	tg := scope
	tg.Channel = otp.ChannelTelegram
	for i := 0; i < 2; i++ {
		if err := allow(ctx, g, tg); err != nil {
			t.Fatalf("telegram %d: %v", i, err)
		}
	}
	if r, _ := reason(allow(ctx, g, tg)); r != otp.LimitTelegramBudget {
		t.Fatalf("third telegram message: %v", r)
	}
	for _, ch := range []string{otp.ChannelSMS, otp.ChannelCall} {
		s := scope
		s.Channel = ch
		if err := allow(ctx, g, s); err != nil {
			t.Fatalf("%q after the telegram budget: %v", ch, err)
		}
	}
}
