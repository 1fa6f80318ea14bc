package otptest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/otpd/otpd/otp"
)

// Events records the events the service emits, in order.
type Events struct {
	mu     sync.Mutex
	events []otp.Event
}

// Emit implements otp.Events.
func (e *Events) Emit(_ context.Context, ev otp.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	return nil
}

// ScheduleExpiry implements otp.Events.
func (e *Events) ScheduleExpiry(context.Context, string, time.Duration) error { return nil }

// Of are the events of type typ, oldest first.
func (e *Events) Of(typ string) []otp.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(e.events), func(ev otp.Event) bool { return ev.Type != typ })
}
