package main

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// A user (or a mimicking bot) types the code this long after its SMS came
// (simulated), uniformly.
const enterMin, enterMax = 5 * time.Second, 90 * time.Second

// arrivals starts legitimate users as a Poisson process from simulated
// time 0 to the end.
func (s *sim) arrivals(ctx context.Context) {
	var t time.Duration
	for {
		t += time.Duration(rand.ExpFloat64() / s.o.legitRate * float64(time.Second))
		if t >= s.end() || !s.clock.sleepUntil(ctx, t) {
			return
		}
		s.legit.late.note(t, s.clock.now())
		r := s.pop.pick()
		s.waits.Add(1)
		go s.user(ctx, r)
	}
}

// user is one signup: a fresh number of r, its SMS awaited, its code
// entered with the user's own probability, after a while.
func (s *sim) user(ctx context.Context, r *numberRange) {
	defer s.waits.Done()
	p := s.o.approveMin + rand.Float64()*(s.o.approveMax-s.o.approveMin)
	sd, got := s.send(s.users, r, true)
	defer s.legit.add(sd)
	if !sd.accepted() || !s.awaitSMS(ctx, sd, got) || rand.Float64() >= p {
		return
	}
	s.enter(ctx, s.users, sd)
}

// rangeBot hammers its stream's range at its rate, entering share of its
// codes (mimic), from the end of the warm-up to the end.
func (s *sim) rangeBot(ctx context.Context, st *stream, share float64) {
	r := st.Ranges[0]
	s.clock.pace(ctx, s.o.warmup, s.end(), st.Rate, 2, &st.late, func(int) {
		sd, got := s.send(s.botsC, r, share > 0)
		if !sd.accepted() || share == 0 || !st.approveNext(share) {
			st.add(sd)
			return
		}
		s.waits.Add(1)
		go func() {
			defer s.waits.Done()
			defer st.add(sd)
			if s.awaitSMS(ctx, sd, got) {
				s.enter(ctx, s.botsC, sd)
			}
		}()
	})
}

// rotateBots walk their ranges, never entering a code.
func (s *sim) rotateBots(ctx context.Context) {
	s.clock.pace(ctx, s.o.warmup, s.end(), s.rotate.Rate, 4, &s.rotate.late, func(int) {
		sd, _ := s.send(s.botsC, s.rot.Next(), false)
		s.rotate.add(sd)
	})
}

// send starts a verification for a fresh number of r. With await, the
// channel will carry its SMS (asked for before the send, so that a fast
// one is not missed).
func (s *sim) send(c *client, r *numberRange, await bool) (*send, <-chan twiliofake.Request) {
	to := r.Next()
	var got <-chan twiliofake.Request
	if await {
		got = s.st.fake.Expect(to)
	}
	sd := &send{at: time.Now(), to: to, rng: r}
	a := c.do("POST", "/v1/verifications", map[string]string{"to": to})
	sd.answered = time.Now()
	if sd.a = a; a.status == 202 {
		sd.id, _ = a.body["id"].(string)
	}
	sd.a.body = nil
	return sd, got
}

// awaitSMS waits for the send's SMS as long as its code lives, and reads
// the code.
func (s *sim) awaitSMS(ctx context.Context, sd *send, got <-chan twiliofake.Request) bool {
	t := time.NewTimer(s.p.OTPTTL)
	defer t.Stop()
	select {
	case m := <-got:
		sd.smsAt, sd.otp = m.At, twiliofake.CodeIn(m.Form.Get("Body"))
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// enter types the code a while after the SMS came.
func (s *sim) enter(ctx context.Context, c *client, sd *send) {
	delay := enterMin + time.Duration(rand.Float64()*float64(enterMax-enterMin))
	if !s.clock.sleepUntil(ctx, s.clock.sim(sd.smsAt)+delay) {
		return
	}
	a := c.do("POST", "/v1/verifications/check", map[string]string{"id": sd.id, "code": sd.otp})
	sd.checkedAt, sd.checkStatus, sd.checkCode = time.Now(), a.status, a.code
	sd.approved = a.status == 200 && a.body["valid"] == true
}
