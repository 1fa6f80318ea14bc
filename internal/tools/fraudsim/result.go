package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// Result is the JSON file. Times named _sim are simulated seconds from the
// start of the run; _real are real.
type Result struct {
	Settings     map[string]string `json:"service_env"`
	Params       guardParams       `json:"judged_by"`
	Sim          SimParams         `json:"simulation"`
	RealSeconds  float64           `json:"real_seconds"`
	Legit        LegitResult       `json:"legitimate"`
	Attacks      []AttackResult    `json:"attacks"`
	Blocks       []BlockRow        `json:"blocks_at_end"`
	BlocksLogged int               `json:"blocks_logged_by_api"`
	Unattributed int               `json:"sms_to_unknown_numbers"`
	RotateBound  *RotateBound      `json:"rotate_bound,omitempty"`
	Compare      *Comparison       `json:"compare,omitempty"`
	Targets      []Target          `json:"targets"`
}

// SimParams are the simulation's own settings.
type SimParams struct {
	Speed           float64 `json:"speed"`
	Seed            uint64  `json:"seed"`
	WarmupSim       float64 `json:"warmup_sim"`
	DurationSim     float64 `json:"attack_duration_sim"`
	LegitRate       float64 `json:"legit_users_per_sim_second"`
	Countries       string  `json:"countries"`
	ApproveMin      float64 `json:"approve_min"`
	ApproveMax      float64 `json:"approve_max"`
	RotateRanges    int     `json:"rotate_ranges"`
	RotateCountry   string  `json:"rotate_country"`
	TwilioLatencyMs float64 `json:"twilio_latency_ms_real"`
}

// AttackResult is one attack: a hammered or mimicking range, or the
// rotating bots in all.
type AttackResult struct {
	Attack   string  `json:"attack"`
	Country  string  `json:"country"`
	Prefix   string  `json:"prefix,omitempty"`
	Ranges   int     `json:"ranges"`
	Touched  int     `json:"ranges_sent_to"`
	Rate     float64 `json:"sends_per_sim_second"`
	Sends    int     `json:"sends"`
	Accepted int     `json:"accepted_202"`
	// Before the block: sent before the first 403 fraud_blocked was
	// answered; after: sent after it (none should be accepted).
	AcceptedBeforeBlock int            `json:"accepted_before_block"`
	AcceptedAfterBlock  int            `json:"accepted_after_block"`
	SMS                 int            `json:"sms"`
	SMSBeforeBlock      int            `json:"sms_before_block"`
	Approved            int            `json:"codes_entered_and_approved"`
	Refused             map[string]int `json:"refused"`
	FirstSendSim        float64        `json:"first_send_sim"`
	Blocked             bool           `json:"blocked"`
	BlockScope          string         `json:"block_scope,omitempty"`
	TimeToBlockSim      float64        `json:"time_to_block_sim,omitempty"`
	// InFlight are the sends accepted after the range's FRAUD_MIN_SENDS-th
	// accepted send and sent before its first fraud_blocked was answered
	// (an attack on one range only).
	InFlight int    `json:"in_flight"`
	Late     string `json:"worst_lateness_sim"`
	// RetryAfterSim is the first fraud_blocked's Retry-After, simulated.
	RetryAfterSim float64 `json:"retry_after_sim,omitempty"`
	blockedAt     time.Time
}

// LegitResult is the legitimate users'.
type LegitResult struct {
	Users       int            `json:"users"`
	Accepted    int            `json:"accepted_202"`
	SMS         int            `json:"sms"`
	NoSMS       int            `json:"accepted_without_sms_in_time"`
	Entered     int            `json:"codes_entered"`
	Approved    int            `json:"approved"`
	CheckFailed map[string]int `json:"checks_failed"`
	Refused     map[string]int `json:"refused"`
	RefusedBy   RefusedBy      `json:"refused_by"`
	ByCountry   []CountryRow   `json:"by_country"`
	Refusals    []RefusalRow   `json:"refusals"` // the first 100
	SendP50ms   float64        `json:"send_p50_ms_real"`
	SendP99ms   float64        `json:"send_p99_ms_real"`
	SendMaxms   float64        `json:"send_max_ms_real"`
	// From the 202 to the fake Twilio's accepting the SMS.
	SMSP50ms float64 `json:"sms_delay_p50_ms_real"`
	SMSP99ms float64 `json:"sms_delay_p99_ms_real"`
	SMSMaxms float64 `json:"sms_delay_max_ms_real"`
	Late     string  `json:"worst_arrival_lateness_sim"`
}

// RefusedBy sorts refused legitimate sends.
type RefusedBy struct {
	Fraud     int `json:"fraud_blocked"`
	Other4xx  int `json:"other_4xx"`
	Server    int `json:"5xx"`
	Transport int `json:"transport"`
}

// CountryRow is the legitimate users of one country.
type CountryRow struct {
	Country  string    `json:"country"`
	Ranges   int       `json:"ranges"`
	Users    int       `json:"users"`
	Accepted int       `json:"accepted_202"`
	Approved int       `json:"approved"`
	Refused  RefusedBy `json:"refused_by"`
	// RangesRefused are its ranges that had a send refused.
	RangesRefused int `json:"ranges_refused"`
}

// RefusalRow is one refused legitimate send.
type RefusalRow struct {
	AtSim   float64 `json:"at_sim"`
	Country string  `json:"country"`
	Prefix  string  `json:"prefix"`
	Refusal string  `json:"refusal"`
	// RangeApprovalAgoSim is how long before the refusal the range's last
	// approval was (-1: none in the run).
	RangeApprovalAgoSim float64 `json:"range_last_approval_ago_sim"`
}

// BlockRow is a block GET /v1/fraud/blocks listed at the end.
type BlockRow struct {
	Scope    string  `json:"scope"`
	Name     string  `json:"name"`
	Owner    string  `json:"owner"` // whose range: legit, hammer, rotate, mimic; country
	Settled  int     `json:"settled"`
	Approved int     `json:"approved"`
	SinceSim float64 `json:"since_sim"`
	Shadow   bool    `json:"shadow"`
}

// result gathers the run's figures.
func (s *sim) result(ctx context.Context) (*Result, error) {
	res := &Result{Settings: map[string]string{}, Params: s.p, Sim: s.simParams(),
		BlocksLogged: strings.Count(s.st.api.Output(), "fraud guard: blocked")}
	env, _, _ := serviceEnv(s.o)
	for k, v := range env {
		if k != "API_KEYS" {
			res.Settings[k] = v
		}
	}
	owner := s.smsOwners()
	sms := map[*stream][]twiliofake.Request{}
	for _, m := range s.st.fake.Messages() {
		if st := owner[m.Form.Get("To")]; st != nil {
			sms[st] = append(sms[st], m)
		} else {
			res.Unattributed++
		}
	}
	for _, st := range s.attackStreams() {
		res.Attacks = append(res.Attacks, s.attack(st, sms[st]))
	}
	res.Legit = s.legitResult(sms[s.legit])
	blocks, err := s.blocks(ctx)
	if err != nil {
		return nil, err
	}
	res.Blocks = blocks
	res.RotateBound = s.rotateBound(res)
	return res, nil
}

func (s *sim) simParams() SimParams {
	return SimParams{Speed: s.o.speed, Seed: s.o.seed, WarmupSim: s.o.warmup.Seconds(), DurationSim: s.o.duration.Seconds(),
		LegitRate: s.o.legitRate, Countries: s.o.countries, ApproveMin: s.o.approveMin, ApproveMax: s.o.approveMax,
		RotateRanges: s.o.rotateRanges, RotateCountry: s.o.rotateCountry,
		TwilioLatencyMs: float64(s.o.twilioLatency) / float64(time.Millisecond)}
}

func (s *sim) attackStreams() []*stream {
	out := append([]*stream{}, s.hammer...)
	out = append(out, s.rotate)
	return append(out, s.mimic...)
}

// smsOwners maps every number sent to onto its stream.
func (s *sim) smsOwners() map[string]*stream {
	out := map[string]*stream{}
	for _, st := range append(s.attackStreams(), s.legit) {
		for _, sd := range st.all() {
			out[sd.to] = st
		}
	}
	return out
}

// attack sums one attack stream; msgs are the SMS to its numbers.
func (s *sim) attack(st *stream, msgs []twiliofake.Request) AttackResult {
	r := AttackResult{Attack: st.Kind, Country: st.Country, Ranges: len(st.Ranges), Rate: st.Rate,
		Refused: map[string]int{}, Late: st.late.String()}
	if len(st.Ranges) == 1 {
		r.Prefix = st.Ranges[0].Prefix
	}
	sends := st.all()
	touched := map[*numberRange]bool{}
	for _, sd := range sends {
		touched[sd.rng] = true
		if sd.fraudBlocked() && !r.Blocked {
			r.Blocked, r.BlockScope, r.blockedAt = true, sd.a.scope, sd.answered
			r.RetryAfterSim = s.p.simDur(time.Duration(sd.a.retryAfter) * time.Second).Seconds()
		}
	}
	r.Touched = len(touched)
	if len(sends) > 0 {
		r.FirstSendSim = s.clock.sim(sends[0].at).Seconds()
	}
	if r.Blocked {
		r.TimeToBlockSim = s.clock.sim(r.blockedAt).Seconds() - r.FirstSendSim
	}
	for _, sd := range sends {
		r.count(sd, s.p.MinSends)
	}
	for _, m := range msgs {
		r.SMS++
		if !r.Blocked || m.At.Before(r.blockedAt) {
			r.SMSBeforeBlock++
		}
	}
	return r
}

// count adds one send of the attack (in the order they were made).
func (r *AttackResult) count(sd *send, minSends int) {
	r.Sends++
	if sd.approved {
		r.Approved++
	}
	if !sd.accepted() {
		r.Refused[sd.a.refusal()]++
		return
	}
	r.Accepted++
	if r.Blocked && !sd.at.Before(r.blockedAt) {
		r.AcceptedAfterBlock++
		return
	}
	r.AcceptedBeforeBlock++
	if r.Ranges == 1 && r.AcceptedBeforeBlock > minSends {
		r.InFlight++
	}
}

// percentile of sorted durations, in ms.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := min(len(d)-1, int(float64(len(d))*p/100))
	return float64(d[i]) / float64(time.Millisecond)
}

// owners maps every range onto whose it is.
func (s *sim) owners() map[string]string {
	out := map[string]string{}
	for _, c := range s.pop.countries {
		for _, r := range c.Ranges {
			out[r.Prefix] = "legit"
		}
	}
	for _, st := range s.attackStreams() {
		for _, r := range st.Ranges {
			out[r.Prefix] = st.Kind
		}
	}
	return out
}

// blocks lists the blocks in force at the end.
func (s *sim) blocks(ctx context.Context) ([]BlockRow, error) {
	a := s.users.do("GET", "/v1/fraud/blocks", nil)
	list, ok := a.body["blocks"].([]any)
	if a.status != 200 || !ok {
		return nil, fmt.Errorf("GET /v1/fraud/blocks: %d %v", a.status, a.body)
	}
	owner := s.owners()
	out := []BlockRow{}
	for _, item := range list {
		b, _ := item.(map[string]any)
		row := BlockRow{Scope: str(b["scope"]), Settled: num(b["settled"]), Approved: num(b["approved"]), Shadow: b["shadow"] == true}
		row.Name = str(b["prefix"]) + str(b["country"])
		row.Owner = owner[row.Name]
		if row.Scope == "country" {
			row.Owner = "country"
		}
		if t, err := time.Parse(time.RFC3339Nano, str(b["since"])); err == nil {
			row.SinceSim = s.clock.sim(t).Seconds()
		}
		out = append(out, row)
	}
	return out, ctx.Err()
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int { f, _ := v.(float64); return int(f) }
