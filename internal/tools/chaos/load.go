package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// send is one virtual user's signup: the send, and the check of the code
// the SMS carried.
type send struct {
	To       string    `json:"to"`
	ID       string    `json:"id,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`    // when the answer (or the error) came
	Status   int       `json:"status"` // 0: no answer (transport error)
	Err      string    `json:"err,omitempty"`
	Approved bool      `json:"approved"`
}

func (s send) acked() bool { return s.Status == http.StatusAccepted && s.ID != "" }

// load is an open-loop signup load: a new user every 1/rate seconds,
// whatever the answers, round-robin over the api replicas.
type load struct {
	bases   func(i int) string
	fake    *twiliofake.Server
	http    *http.Client
	n       atomic.Int64
	mu      sync.Mutex
	sends   []*send
	sending sync.WaitGroup // the sends, until answered
	users   sync.WaitGroup // the users, until checked or given up
	ctx     context.Context
}

func newLoad(ctx context.Context, bases func(i int) string, fake *twiliofake.Server) *load {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	return &load{bases: bases, fake: fake, ctx: ctx, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// run starts a user every 1/rate seconds until stop is closed.
func (l *load) run(rate float64, stop <-chan struct{}) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			l.sending.Add(1)
			l.users.Add(1)
			go l.user(int(l.n.Add(1)))
		}
	}
}

// user sends, waits for the SMS at the fake Twilio (until the load's
// context ends), and checks its code.
func (l *load) user(i int) {
	defer l.users.Done()
	to := number(i)
	sms := l.fake.Expect(to) // before the send, so a quick SMS is not missed
	s := &send{To: to, Start: time.Now()}
	status, body, err := l.post(l.bases(i), "/v1/verifications", map[string]string{"to": to})
	s.End, s.Status = time.Now(), status
	if err != nil {
		s.Err = err.Error()
	}
	if id, ok := body["id"].(string); ok && status == http.StatusAccepted {
		s.ID = id
	}
	l.mu.Lock()
	l.sends = append(l.sends, s)
	l.mu.Unlock()
	l.sending.Done()
	if !s.acked() {
		return
	}
	select {
	case msg := <-sms:
		approved := l.check(i, s.ID, twiliofake.CodeIn(msg.Form.Get("Body")))
		l.mu.Lock()
		s.Approved = approved
		l.mu.Unlock()
	case <-l.ctx.Done():
	}
}

// check posts the code, trying each replica in turn a few times when an
// answer does not come (a replica killed meanwhile): the check is not the
// fault's subject, the send is.
func (l *load) check(i int, id, code string) bool {
	for try := 0; try < 6; try++ {
		status, body, err := l.post(l.bases(i+try), "/v1/verifications/check", map[string]string{"id": id, "code": code})
		if err == nil && status < 500 {
			return status == http.StatusOK && body["valid"] == true
		}
		select {
		case <-l.ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
	return false
}

func (l *load) post(base, path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// snapshot copies the sends so far.
func (l *load) snapshot() []send {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]send, len(l.sends))
	for i, s := range l.sends {
		out[i] = *s
	}
	return out
}

var areas = []string{"212", "310", "415", "646", "917", "303", "206", "512", "617", "702"}

// number is the i-th of distinct valid US numbers: one per user, so an
// SMS names its verification by its To.
func number(i int) string {
	area := areas[i%len(areas)]
	local := i / len(areas)
	return fmt.Sprintf("+1%s%d%06d", area, 2+local/1_000_000%8, local%1_000_000)
}
