// Package clocktest is a settable clock for tests. Services take their time
// as a func() time.Time; tests pass Clock.Now and move it with Advance, so
// expiry and windows are reached without sleeping.
package clocktest

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use: handlers read it while a test moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that stands at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Start returns a clock that stands at the present, whole seconds.
func Start() *Clock { return New(time.Now().UTC().Truncate(time.Second)) }
