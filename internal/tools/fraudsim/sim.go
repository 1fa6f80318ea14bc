package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// sim is one run: the stack, the population, the streams of sends.
type sim struct {
	o      options
	p      guardParams
	st     *stack
	clock  clock
	users  *client // the legitimate users' connections
	botsC  *client // the bots'
	pop    *population
	legit  *stream
	hammer []*stream // one per range
	mimic  []*stream // one per range
	rotate *stream
	rot    *rotation
	// waits are the users and bots between their send and their check.
	waits sync.WaitGroup
}

func newSim(o options, p guardParams, st *stack) (*sim, error) {
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	g := newRanges(o.seed)
	pop, err := newPopulation(o, g, rng)
	if err != nil {
		return nil, err
	}
	if !pop.has(o.rotateCountry) {
		fmt.Printf("note: no legitimate users come from %s, the rotating bots' country: the country rule's cost to real users is not measured\n", o.rotateCountry)
	}
	s := &sim{o: o, p: p, st: st, pop: pop, users: newClient(st.base, o.conns), botsC: newClient(st.base, o.conns),
		legit: &stream{Kind: "legit", Rate: o.legitRate}}
	if s.hammer, err = perRange(g, "hammer", o.hammerCountry, o.hammerRanges, o.hammerRate); err != nil {
		return nil, err
	}
	if s.mimic, err = perRange(g, "mimic", o.mimicCountry, o.mimicRanges, o.mimicRate); err != nil {
		return nil, err
	}
	rs, err := g.Draw(o.rotateCountry, o.rotateRanges)
	if err != nil {
		return nil, err
	}
	s.rotate = &stream{Kind: "rotate", Country: o.rotateCountry, Ranges: rs, Rate: o.rotateRate}
	s.rot = newRotation(rs, rng.IntN)
	return s, nil
}

// perRange is one stream per new range of region.
func perRange(g *ranges, kind, region string, n int, rate float64) ([]*stream, error) {
	rs, err := g.Draw(region, n)
	if err != nil {
		return nil, err
	}
	out := make([]*stream, len(rs))
	for i, r := range rs {
		out[i] = &stream{Kind: kind, Country: region, Ranges: []*numberRange{r}, Rate: rate}
	}
	return out, nil
}

func (s *sim) describe() string {
	var parts []string
	for _, c := range s.pop.countries {
		parts = append(parts, fmt.Sprintf("%s %.0f%% in %d ranges (busiest %.2f%% of all users, quietest %.2f%%)", c.Region,
			100*c.Weight/s.totalWeight(), len(c.Ranges), 100*s.pop.share(c, 0), 100*s.pop.share(c, len(c.Ranges)-1)))
	}
	return fmt.Sprintf("legitimate %.1f users/s: %s; hammer %d ranges of %s at %.1f/s each; rotate %d ranges of %s at %.1f/s; mimic %d ranges of %s at %.1f/s each entering %.0f%% of their codes",
		s.o.legitRate, strings.Join(parts, ", "), len(s.hammer), s.o.hammerCountry, s.o.hammerRate,
		len(s.rotate.Ranges), s.o.rotateCountry, s.o.rotateRate, len(s.mimic), s.o.mimicCountry, s.o.mimicRate, 100*s.o.mimicApprove)
}

func (s *sim) totalWeight() float64 {
	t := 0.0
	for _, c := range s.pop.countries {
		t += c.Weight
	}
	return t
}

// end is when the attacks and the legitimate arrivals stop (simulated).
func (s *sim) end() time.Duration { return s.o.warmup + s.o.duration }

// run drives every population until the end, then waits for the codes
// being entered and for the last SMS.
func (s *sim) run(ctx context.Context) error {
	s.clock = clock{start: time.Now(), speed: s.o.speed}
	var wg sync.WaitGroup
	goRun := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	goRun(func() { s.arrivals(ctx) })
	for _, st := range s.hammer {
		goRun(func() { s.rangeBot(ctx, st, 0) })
	}
	for _, st := range s.mimic {
		goRun(func() { s.rangeBot(ctx, st, s.o.mimicApprove) })
	}
	goRun(func() { s.rotateBots(ctx) })
	stop := make(chan struct{})
	go s.progress(ctx, stop)
	wg.Wait()
	s.waits.Wait()
	close(stop)
	if err := ctx.Err(); err != nil {
		return err
	}
	s.settle()
	return s.st.exited()
}

// settle waits (up to 30s) for the fake Twilio's count of SMS to hold
// still for a second: the last sends' SMS have gone out.
func (s *sim) settle() {
	last, still := -1, time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n := s.st.fake.AcceptedCount(); n != last {
			last, still = n, time.Now()
		} else if time.Since(still) > time.Second {
			return
		}
	}
}

// progress prints a line every simulated 15 minutes.
func (s *sim) progress(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(s.clock.realDur(15 * time.Minute))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			fmt.Printf("  t=%-8s %s\n", s.clock.now().Round(time.Second), s.tally())
		}
	}
}

// tally is a one-line count of the sends so far.
func (s *sim) tally() string {
	var parts []string
	count := func(name string, sts ...*stream) {
		n, ok, fb := 0, 0, 0
		for _, st := range sts {
			for _, sd := range st.all() {
				n++
				if sd.accepted() {
					ok++
				}
				if sd.fraudBlocked() {
					fb++
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d sent/%d accepted/%d fraud_blocked", name, n, ok, fb))
	}
	count("legit", s.legit)
	count("hammer", s.hammer...)
	count("rotate", s.rotate)
	count("mimic", s.mimic...)
	return strings.Join(parts, "; ")
}
