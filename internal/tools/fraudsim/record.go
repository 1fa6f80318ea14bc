package main

import (
	"sort"
	"sync"
	"time"
)

// send is one start request and what came of it. Times are real.
type send struct {
	at, answered time.Time
	to           string
	rng          *numberRange
	a            answer // its body dropped
	id           string // the verification, when accepted

	otp   string    // the code its SMS carried
	smsAt time.Time // when the fake accepted its SMS, when awaited
	// Entering the code: the check's time, status, problem and verdict.
	checkedAt   time.Time
	checkStatus int
	checkCode   string
	approved    bool
}

func (sd *send) accepted() bool { return sd.a.status == 202 }

func (sd *send) fraudBlocked() bool { return sd.a.code == "fraud_blocked" }

// stream is one population's sends: the legitimate users, one hammered or
// mimicking range, or the rotating bots.
type stream struct {
	Kind    string // legit, hammer, rotate, mimic
	Country string
	Ranges  []*numberRange
	Rate    float64 // sends per simulated second (hammer, mimic: to its range)
	late    lateness

	mu       sync.Mutex
	sends    []*send
	accepted int // 202s so far, for the mimic's share
}

func (st *stream) add(sd *send) {
	st.mu.Lock()
	st.sends = append(st.sends, sd)
	st.mu.Unlock()
}

// approveNext counts an accepted send and says whether the bot enters its
// code: every send that makes the share entered so far reach the next
// whole number, so share 0.1 enters the 10th, 20th, 30th …
func (st *stream) approveNext(share float64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.accepted++
	k := float64(st.accepted)
	return int(k*share) > int((k-1)*share)
}

// all are the sends in the order they were made.
func (st *stream) all() []*send {
	st.mu.Lock()
	out := append([]*send(nil), st.sends...)
	st.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// rotation walks the rotating bots' ranges: in a shuffled order, one or
// two sends to each, then a new order.
type rotation struct {
	mu     sync.Mutex
	ranges []*numberRange
	order  []int
	pos    int
	left   int
	next   func(n int) int // a random number below n
}

func newRotation(rs []*numberRange, intN func(int) int) *rotation {
	return &rotation{ranges: rs, order: make([]int, len(rs)), pos: len(rs), next: intN}
}

// Next is the range of the next send.
func (r *rotation) Next() *numberRange {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left == 0 {
		r.pos++
		if r.pos >= len(r.order) {
			for i := range r.order {
				r.order[i] = i
			}
			for i := len(r.order) - 1; i > 0; i-- {
				j := r.next(i + 1)
				r.order[i], r.order[j] = r.order[j], r.order[i]
			}
			r.pos = 0
		}
		r.left = 1 + r.next(2)
	}
	r.left--
	return r.ranges[r.order[r.pos]]
}
