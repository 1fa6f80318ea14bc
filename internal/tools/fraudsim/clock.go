package main

import (
	"context"
	"sync"
	"time"
)

// clock maps real time to simulated time: a simulated duration lasts
// 1/speed of it in real time, from start on.
type clock struct {
	start time.Time
	speed float64
}

// sim is the simulated time of real instant t.
func (c clock) sim(t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(c.start)) * c.speed)
}

// now is the simulated time.
func (c clock) now() time.Duration { return c.sim(time.Now()) }

// realDur is how long a simulated duration lasts in real time.
func (c clock) realDur(d time.Duration) time.Duration { return time.Duration(float64(d) / c.speed) }

// at is the real instant of simulated time d.
func (c clock) at(d time.Duration) time.Time { return c.start.Add(c.realDur(d)) }

// sleepUntil waits for simulated time d; false when ctx ended first.
func (c clock) sleepUntil(ctx context.Context, d time.Duration) bool {
	wait := time.Until(c.at(d))
	if wait <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lateness is how late a stream's events went out at worst, and when
// (both simulated): the machine's falling behind the simulated clock.
type lateness struct {
	mu         sync.Mutex
	worst, due time.Duration
}

// note records an event due at due that went out at now.
func (l *lateness) note(due, now time.Duration) {
	l.mu.Lock()
	if late := now - due; late > l.worst {
		l.worst, l.due = late, due
	}
	l.mu.Unlock()
}

func (l *lateness) String() string {
	if l.worst <= 0 {
		return "none"
	}
	return l.worst.Round(time.Second).String() + " at " + l.due.Round(time.Second).String()
}

// pace calls fn(i) for the i-th event of a stream of rate events per
// simulated second, from simulated time from until until: event i is due
// at from + i/rate, runs on worker i%workers, at its time or at once when
// the worker is late; late records how late.
func (c clock) pace(ctx context.Context, from, until time.Duration, rate float64, workers int, late *lateness, fn func(i int)) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += workers {
				due := from + time.Duration(float64(i)/rate*float64(time.Second))
				if due >= until || !c.sleepUntil(ctx, due) {
					return
				}
				late.note(due, c.now())
				fn(i)
			}
		}()
	}
	wg.Wait()
}
