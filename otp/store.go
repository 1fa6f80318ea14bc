package otp

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/common.lua
	commonLua string
	//go:embed lua/start.lua
	startLua string
	//go:embed lua/rollback.lua
	rollbackLua string
	//go:embed lua/check.lua
	checkLua string
	//go:embed lua/cancel.lua
	cancelLua string
	//go:embed lua/attempt.lua
	attemptLua string
	//go:embed lua/view.lua
	viewLua string
	//go:embed lua/forget.lua
	forgetLua string
	//go:embed lua/keep.lua
	keepLua string
	//go:embed lua/step.lua
	stepLua string

	startScript    = script(startLua)
	rollbackScript = script(rollbackLua)
	checkScript    = script(checkLua)
	cancelScript   = script(cancelLua)
	attemptScript  = script(attemptLua)
	viewScript     = script(viewLua)
	stepScript     = script(stepLua)
	// The Idempotency-Key scripts need none of common.lua.
	forgetScript = redis.NewScript(forgetLua)
	keepScript   = redis.NewScript(keepLua)
)

// script puts the shared helpers in front of a script's own text.
func script(src string) *redis.Script { return redis.NewScript(commonLua + "\n" + src) }

// locator is the arguments every script that finds a verification by id
// starts with: the number's key prefix, the id's fixed part, its random part.
func locator(tag, id string) []any {
	base := idBase(tag)
	return []any{keyPrefix(tag), base, strings.TrimPrefix(id, base)}
}

func idBase(tag string) string { return "VE" + tag }

// Store is the only place that talks to Redis about verifications. Each
// method is one round trip (a Lua script or a pipeline), so every rule is
// applied atomically and works unchanged on Redis Cluster.
//
// Time is the Redis server's: the scripts read TIME, so that expiry,
// cooldowns and windows are judged alike by every api and worker, whatever
// their hosts' clocks say (a lagging host used to keep codes alive longer).
type Store struct {
	rdb redis.UniversalClient
	now func() time.Time // nil: the Redis server's clock
}

// NewStore wraps a Redis client.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// WithClock makes the scripts judge time by now instead of the Redis
// server's clock: tests move it to reach expiry without sleeping.
func (s *Store) WithClock(now func() time.Time) *Store { s.now = now; return s }

// clock is the scripts' time argument: "" asks them to read Redis's TIME.
func (s *Store) clock() any {
	if s.now == nil {
		return ""
	}
	return ms(s.now())
}

// StartParams is everything the start script needs.
type StartParams struct {
	Tag, NewID, To, Channel string
	MAC, Sealed             string
	// Locale, Brand (its BrandKey) and AppHash say how the worker writes
	// the message; a resend that gives them replaces what the verification
	// had. DefaultLocale is a new verification's when Locale is "".
	Locale, DefaultLocale, Brand, AppHash string
	// Workflow, for a new verification, is its fallback workflow's
	// channels, in order ("" none); a resend ignores it.
	Workflow       []string
	ChannelTimeout time.Duration
	// Origin is kept with a workflow, for its steps' limits.
	Origin         Origin
	TTL, Retention time.Duration
	MaxSends       int
	Cooldown       time.Duration
	SendCap        Window // sends per number across verifications
	FailureLock    Window // wrong codes per number that lock it
}

// Window is "Count per Period"; Count 0 is off.
type Window struct {
	Count  int
	Period time.Duration
}

// StartResult says what start did.
type StartResult struct {
	Verification Verification
	Created      bool
	// before is a resend's lo, b and ah fields as they were, for Rollback.
	before []any
}

// Start creates a verification or records a resend on the pending one.
// Refusals come back as *LimitError.
func (s *Store) Start(ctx context.Context, p StartParams) (StartResult, error) {
	return s.QueueStart(ctx, s.rdb, p)()
}

// Pipeline returns a pipeline on the store's client, for QueueStart.
func (s *Store) Pipeline() redis.Pipeliner { return s.rdb.Pipeline() }

// QueueStart adds the start script to a pipeline, so that it shares a round
// trip with other commands, and returns the function that reads its answer
// once the pipeline ran. With the client instead of a pipeline it runs at
// once.
func (s *Store) QueueStart(ctx context.Context, pipe redis.Scripter, p StartParams) func() (StartResult, error) {
	keys := []string{numberKey(p.Tag)}
	args := append(locator(p.Tag, p.NewID), s.clock(), p.TTL.Milliseconds(), p.Retention.Milliseconds(),
		p.MaxSends, p.Cooldown.Milliseconds(), p.MAC, p.Sealed, p.To, p.Channel,
		p.SendCap.Count, p.SendCap.Period.Milliseconds(), p.FailureLock.Count, p.Locale, p.Brand, p.AppHash, p.DefaultLocale,
		workflowLetters(p.Workflow), p.ChannelTimeout.Milliseconds(), p.Origin.APIKeyID+"|"+p.Origin.ClientIP)
	cmd := startScript.EvalSha(ctx, pipe, keys, args...)
	return func() (StartResult, error) {
		res, err := cmd.Slice()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Script cache empty (restart, failover): the script did not
			// run, so running it now is its first run.
			res, err = startScript.Run(ctx, s.rdb, keys, args...).Slice()
		}
		if err != nil {
			return StartResult{}, fmt.Errorf("%w: start: %w", ErrUnavailable, err)
		}
		return parseStart(res)
	}
}

func parseStart(res []any) (StartResult, error) {
	outcome, retry := res[0].(int64), res[1].(int64)
	switch outcome {
	case -1:
		return StartResult{}, &LimitError{Reason: LimitCooldown, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -2:
		return StartResult{}, &LimitError{Reason: LimitMaxSends, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -3:
		return StartResult{}, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -4:
		return StartResult{}, &LimitError{Reason: LimitFailedChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -5:
		return StartResult{}, &LimitError{Reason: LimitToCap, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -9:
		return StartResult{}, ErrCollision
	}
	v, err := parseVerification(res[2], res[3])
	if err != nil {
		return StartResult{}, err
	}
	r := StartResult{Verification: v, Created: outcome == 1}
	if len(res) > 4 {
		r.before, _ = res[4].([]any)
	}
	return r, nil
}

// ErrCollision means two numbers share a hash tag, so they would share a
// Redis hash, or a new id was already used by an archived verification (it
// is the sealed code's nonce, so it must be new). The send is refused rather
// than mix state; the client's retry draws a new id. With 80-bit tags and 48
// random bits per number it should never happen.
var ErrCollision = fmt.Errorf("%w: hash tag or verification id already in use", ErrUnavailable)

// Rollback undoes a Start whose task could not be enqueued.
func (s *Store) Rollback(ctx context.Context, tag string, r StartResult) error {
	if r.Created {
		// Not r's send count: a replayed start reports the count as it is
		// now, and a resend since then must not be rolled back with it.
		return s.RollbackCreated(ctx, tag, r.Verification.ID)
	}
	return s.rollback(ctx, tag, r.Verification.ID, "2", r.Verification.SendAttempts, r.before...)
}

// RollbackCreated undoes a Start that may or may not have created
// verification id (its reply was lost): if id is the number's current
// verification, it is removed and the one it replaced comes back; otherwise
// nothing happens.
func (s *Store) RollbackCreated(ctx context.Context, tag, id string) error {
	return s.rollback(ctx, tag, id, "1", 1)
}

func (s *Store) rollback(ctx context.Context, tag, id, outcome string, sends int, before ...any) error {
	args := append(append([]any{outcome}, locator(tag, id)...), sends)
	if err := rollbackScript.Run(ctx, s.rdb, []string{numberKey(tag)}, append(args, before...)...).Err(); err != nil {
		return fmt.Errorf("%w: rollback: %w", ErrUnavailable, err)
	}
	return nil
}

// CheckOutcome is the result of one check.
type CheckOutcome int

const (
	CheckApproved  CheckOutcome = iota + 1 // right code
	CheckWrong                             // wrong code, attempts left
	CheckExhausted                         // wrong code, that was the last attempt
)

// CheckParams identifies the verification by id or by number (To).
type CheckParams struct {
	Tag, ID, To string
	MAC         string
	MaxChecks   int
	FailureLock Window // wrong codes per number, across verifications
}

// CheckResult is what a check did.
type CheckResult struct {
	Verification
	Outcome CheckOutcome
	// Locked: this wrong code locked the number (FAILED_CHECK_LIMIT).
	Locked bool
}

// Check applies one code attempt. A verification that is not pending gives
// *FinishedError (with the verification when known) or ErrNotFound; one
// locked by failed attempts gives *LimitError.
func (s *Store) Check(ctx context.Context, p CheckParams) (CheckResult, error) {
	res, err := checkScript.Run(ctx, s.rdb, []string{numberKey(p.Tag)}, append(locator(p.Tag, p.ID),
		s.clock(), p.MAC, p.MaxChecks, p.To, p.FailureLock.Count, p.FailureLock.Period.Milliseconds())...).Slice()
	if err != nil {
		return CheckResult{}, fmt.Errorf("%w: check: %w", ErrUnavailable, err)
	}
	outcome, retry := res[0].(int64), res[1].(int64)
	if outcome == 0 {
		return CheckResult{}, ErrNotFound
	}
	v, err := parseVerification(res[2], res[3])
	if err != nil {
		return CheckResult{}, err
	}
	r := CheckResult{Verification: v}
	switch outcome {
	case -4:
		return r, &LimitError{Reason: LimitFailedChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -3:
		return r, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -1:
		return r, &FinishedError{Status: v.Status}
	}
	r.Outcome = CheckOutcome(outcome)
	if len(res) > 4 {
		r.Locked = res[4] == int64(1)
	}
	return r, nil
}

// Cancel ends a pending verification. now says whether this call did
// (a second cancel answers alike, but only the first ends anything).
func (s *Store) Cancel(ctx context.Context, tag, id string) (v Verification, now bool, err error) {
	res, err := cancelScript.Run(ctx, s.rdb, []string{numberKey(tag)}, append(locator(tag, id), s.clock())...).Slice()
	if err != nil {
		return Verification{}, false, fmt.Errorf("%w: cancel: %w", ErrUnavailable, err)
	}
	outcome, retry := res[0].(int64), res[1].(int64)
	if outcome == 0 {
		return Verification{}, false, ErrNotFound
	}
	v, err = parseVerification(id, res[2])
	if err != nil {
		return Verification{}, false, err
	}
	switch outcome {
	case -3:
		return v, false, &LimitError{Reason: LimitMaxChecks, RetryAfter: time.Duration(retry) * time.Millisecond}
	case -1:
		return v, false, &FinishedError{Status: v.Status}
	}
	return v, outcome == 1, nil
}

// Get reads a verification. Expiry is applied on read, by the script's
// clock, so a pending verification past its expiry reads as expired.
func (s *Store) Get(ctx context.Context, tag, id string) (Verification, error) {
	v, _, err := s.get(ctx, tag, id, false)
	return v, err
}

// GetWithSealed is Get plus the sealed code, for tests
// and operator tools; the worker reads the code through ClaimSend, which
// also claims the attempt. sealed is "" once the code is dead (approved,
// canceled, expired, locked) or the verification is no longer current.
// (An expired code's material stays in Redis until the next script that
// touches the verification; see keys.go.)
func (s *Store) GetWithSealed(ctx context.Context, tag, id string) (v Verification, sealed string, err error) {
	return s.get(ctx, tag, id, true)
}

func (s *Store) get(ctx context.Context, tag, id string, withSealed bool) (Verification, string, error) {
	res, err := viewScript.Run(ctx, s.rdb, []string{numberKey(tag)}, append(locator(tag, id), s.clock())...).Slice()
	if err != nil {
		return Verification{}, "", fmt.Errorf("%w: get: %w", ErrUnavailable, err)
	}
	now, _ := res[0].(int64)
	if fields, _ := res[1].(string); fields == "" {
		return Verification{}, "", ErrNotFound
	}
	v, err := parseVerification(id, res[1])
	if err != nil {
		return Verification{}, "", err
	}
	expireOnRead(&v, time.UnixMilli(now))
	if !withSealed || v.Status != StatusPending {
		return v, "", nil
	}
	// A second round trip: only tests and tools ask for the code.
	rs, err := s.rdb.HMGet(ctx, numberKey(tag), "r", "e").Result()
	if err != nil {
		return Verification{}, "", fmt.Errorf("%w: get: %w", ErrUnavailable, err)
	}
	sealed := ""
	if r, _ := rs[0].(string); r == strings.TrimPrefix(id, idBase(tag)) {
		sealed, _ = rs[1].(string)
	}
	return v, sealed, nil
}

// Claim is what a send attempt's claim found.
type Claim struct {
	// Outcome says whether to send.
	Outcome ClaimOutcome
	// Claimed: the verification's number, expiry and sealed code. Claims > 1
	// means an earlier run claimed the attempt and died mid-request.
	To        string
	ExpiresAt time.Time
	Sealed    string
	Claims    int
	QueuedAt  time.Time // when the send was requested
	// Remaining is the code's life left and QueuedFor the time since the
	// send was requested, both by the Redis clock at the claim: durations
	// a worker can add to its own clock, whatever that clock's offset.
	Remaining time.Duration
	QueuedFor time.Duration
	// Channel of the attempt, and how to write its message (Brand is the
	// BrandKey of the brand the request named, if any).
	Channel, Locale, Brand, AppHash string
	// AlreadySent: the MessageSid Twilio gave the earlier run.
	MessageSID string
	// Busy: how long until a live run's claim goes stale.
	Wait time.Duration
	// Skip: why there is nothing to send (expired, canceled, superseded …).
	Reason string
}

// ClaimOutcome is the result of ClaimSend.
type ClaimOutcome int

const (
	ClaimSkip        ClaimOutcome = iota // nothing to send
	ClaimSend                            // claimed: call the gateway
	ClaimAlreadySent                     // an earlier run's message was accepted
	ClaimBusy                            // another live run holds the claim
)

// ClaimSend takes the right to call the gateway for one send attempt and
// reads what the call needs, in one round trip. A claim older than stale is
// presumed dead and taken over.
func (s *Store) ClaimSend(ctx context.Context, tag, id string, attempt int, stale time.Duration) (Claim, error) {
	res, err := attemptScript.Run(ctx, s.rdb, []string{numberKey(tag)},
		append(locator(tag, id), "claim", attempt, s.clock(), stale.Milliseconds())...).Slice()
	if err != nil {
		return Claim{}, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
	}
	switch res[0].(int64) {
	case 1:
		exp, queued, now := res[3].(int64), res[5].(int64), res[6].(int64)
		str := func(i int) string { s, _ := res[i].(string); return s }
		return Claim{Outcome: ClaimSend, Claims: int(res[1].(int64)), To: res[2].(string),
			ExpiresAt: time.UnixMilli(exp).UTC(), Sealed: res[4].(string),
			QueuedAt: time.UnixMilli(queued).UTC(), Remaining: time.Duration(exp-now) * time.Millisecond,
			QueuedFor: time.Duration(now-queued) * time.Millisecond,
			Channel:   channelOf[str(7)], Locale: cmp.Or(str(8), defaultLocale), Brand: str(9), AppHash: str(10)}, nil
	case 2:
		return Claim{Outcome: ClaimAlreadySent, MessageSID: unpackSID(res[1].(string))}, nil
	case 3:
		return Claim{Outcome: ClaimBusy, Wait: time.Duration(res[1].(int64)) * time.Millisecond}, nil
	default:
		return Claim{Outcome: ClaimSkip, Reason: res[1].(string)}, nil
	}
}

// ReleaseSend drops the claim of an attempt the gateway refused with a
// retryable error: nothing was sent, so the retry need not wait.
func (s *Store) ReleaseSend(ctx context.Context, tag, id string, attempt int, errorCode int) error {
	err := attemptScript.Run(ctx, s.rdb, []string{numberKey(tag)},
		append(locator(tag, id), "release", attempt, s.clock(), errorCode)...).Err()
	if err != nil {
		return fmt.Errorf("%w: release: %w", ErrUnavailable, err)
	}
	return nil
}

// AttemptUpdate is a report on one send attempt; it is dated by the
// store's clock.
type AttemptUpdate struct {
	Status     DeliveryStatus
	MessageSID string // or a call's CallSid
	ErrorCode  int
	Reason     string
	RawStatus  string // Twilio's own status word, kept when the update is
	// Channel, on a callback, is what the callback is about; a callback
	// about another channel than the attempt's is ignored.
	Channel string
}

// RecordAttempt stores a report from the worker. Statuses only move
// forward; it reports whether the attempt's status changed (false for a
// stale report, ignored, and for the same status again).
func (s *Store) RecordAttempt(ctx context.Context, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	return s.attemptUpdate(ctx, "record", tag, id, attempt, u)
}

// RecordCallback stores a delivery report from the gateway's status
// callback; it is ignored when the MessageSid belongs to another message.
func (s *Store) RecordCallback(ctx context.Context, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	return s.attemptUpdate(ctx, "callback", tag, id, attempt, u)
}

func (s *Store) attemptUpdate(ctx context.Context, op, tag, id string, attempt int, u AttemptUpdate) (bool, error) {
	n, err := attemptScript.Run(ctx, s.rdb, []string{numberKey(tag)},
		append(locator(tag, id), op, attempt, s.clock(), string(u.Status), packSID(u.MessageSID), u.ErrorCode, u.Reason, u.RawStatus, u.Channel)...).Int()
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return n == 1, nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

func expireOnRead(v *Verification, now time.Time) {
	if v.Status == StatusPending && !now.Before(v.ExpiresAt) {
		v.Status = StatusExpired
		stopSteps(v)
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func parseVerification(id, x any) (Verification, error) {
	packed, ok := x.(string)
	sid, ok2 := id.(string)
	if !ok || !ok2 {
		return Verification{}, fmt.Errorf("otp: unexpected script reply %T %T", id, x)
	}
	m, err := unpackView(packed)
	if err != nil {
		return Verification{}, err
	}
	v, err := fromMap(m)
	v.ID = sid
	return v, err
}

// unpackView reads common.lua's view: "<name>:<length>:<value>" for each
// field. The values are substrings of the reply: no copy each.
func unpackView(s string) (map[string]string, error) {
	m := make(map[string]string, 24)
	for s != "" {
		name, rest, ok := strings.Cut(s, ":")
		size, rest, ok2 := strings.Cut(rest, ":")
		n, err := strconv.Atoi(size)
		if !ok || !ok2 || err != nil || n < 0 || n > len(rest) {
			return nil, fmt.Errorf("otp: corrupt script reply at %q", name)
		}
		m[name], s = rest[:n], rest[n:]
	}
	return m, nil
}

// defaultLocale is a verification's locale when it has no lo field: the
// scripts leave English out, and verifications made before locales had none.
const defaultLocale = "en"

// fromMap reads a verification's fields as keys.go lists them.
func fromMap(m map[string]string) (Verification, error) {
	var v Verification
	var err error
	num := func(k string) int64 {
		s, ok := m[k]
		if !ok && (k == "k" || k == "l") {
			return 0 // to be left out at its default by a later release
		}
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("otp: corrupt field %q", k)
		}
		return n
	}
	v.To = m["to"]
	v.Locale = cmp.Or(m["lo"], defaultLocale)
	st, ok := statusOf[m["st"]]
	if !ok {
		err = fmt.Errorf("otp: corrupt field %q", "st")
	}
	v.Status = st
	v.SendAttempts = int(num("n"))
	v.CheckAttempts = int(num("k"))
	v.CreatedAt = time.UnixMilli(num("cr")).UTC()
	v.ExpiresAt = v.CreatedAt.Add(time.Duration(num("x")) * time.Millisecond)
	v.LastSendAt = v.CreatedAt.Add(time.Duration(num("l")) * time.Millisecond)
	v.Attempts = make([]Attempt, 0, v.SendAttempts)
	for i := 1; i <= v.SendAttempts && err == nil; i++ {
		n := strconv.Itoa(i)
		a, perr := parseAttempt(i, m["a"+n], m["i"+n], v.CreatedAt, m["ch"])
		if perr != nil {
			err = perr
		}
		v.Attempts = append(v.Attempts, a)
	}
	if err == nil {
		v.Workflow, err = parseWorkflow(m, &v)
	}
	v.Origin.APIKeyID, v.Origin.ClientIP, _ = strings.Cut(m["og"], "|")
	v.Channel = ChannelSMS
	if n := len(v.Attempts); n > 0 {
		last := v.Attempts[n-1]
		v.Channel = last.Channel
		v.Delivery = Delivery{Channel: last.Channel, Status: last.Status, RawStatus: last.RawStatus,
			MessageSID: last.MessageSID, ErrorCode: last.ErrorCode, Reason: last.Reason, UpdatedAt: last.UpdatedAt}
	}
	return v, err
}

// statusOf decodes the scripts' one-letter statuses (common.lua's STATUS).
var statusOf = map[string]Status{
	"p": StatusPending, "a": StatusApproved, "c": StatusCanceled,
	"e": StatusExpired, "m": StatusMaxAttempts,
}

// parseAttempt reads "queued|claimed|claims|status|errorCode|updated|reason"
// and, for other channels than SMS or once Twilio named a status,
// "|channel|rawStatus" (times in ms after created; see attempt.lua), and
// the attempt's sid. legacy is the channel of records made before
// attempts had one.
func parseAttempt(n int, raw, sid string, created time.Time, legacy string) (Attempt, error) {
	p := strings.Split(raw, "|")
	st, ok := statusLetters[p[min(3, len(p)-1)]]
	if (len(p) != 7 && len(p) != 9) || !ok {
		return Attempt{}, fmt.Errorf("otp: corrupt attempt %d", n)
	}
	channel, rawStatus := cmp.Or(legacy, ChannelSMS), ""
	if len(p) == 9 {
		if channel, ok = channelOf[p[7]]; !ok {
			return Attempt{}, fmt.Errorf("otp: corrupt attempt %d", n)
		}
		rawStatus = p[8]
	}
	num := func(s string) int64 { x, _ := strconv.ParseInt(s, 10, 64); return x }
	return Attempt{
		Attempt:    n,
		Channel:    channel,
		RawStatus:  rawStatus,
		QueuedAt:   created.Add(time.Duration(num(p[0])) * time.Millisecond),
		MessageSID: unpackSID(sid),
		Status:     st,
		ErrorCode:  int(num(p[4])),
		UpdatedAt:  created.Add(time.Duration(num(p[5])) * time.Millisecond),
		Reason:     p[6],
	}, nil
}

// packSID stores a Twilio SID, two letters and 32 lowercase hex digits, as
// 19 bytes instead of 34: a zero byte, the letters, the digits' 16 bytes.
// Its bytes are part of what keeps a pending verification within its
// memory budget. Anything else is stored as it is (it cannot start with a
// zero byte: the webhook and Twilio's answers only carry printable SIDs).
func packSID(sid string) string {
	if len(sid) != 34 || sid[0] < 'A' || sid[0] > 'Z' || sid[1] < 'A' || sid[1] > 'Z' {
		return sid
	}
	raw, err := hex.DecodeString(sid[2:])
	if err != nil || hex.EncodeToString(raw) != sid[2:] {
		return sid // not lowercase hex: keep it exactly
	}
	return "\x00" + sid[:2] + string(raw)
}

func unpackSID(s string) string {
	if len(s) != 19 || s[0] != 0 {
		return s
	}
	return s[1:3] + hex.EncodeToString([]byte(s[3:]))
}

// channelOf decodes the scripts' channel letters (common.lua's CHANNEL):
// SMS, the common case, costs no byte.
var channelOf = map[string]string{"": ChannelSMS, "w": ChannelWhatsApp, "c": ChannelCall}

// statusLetters decodes attempt.lua's one-letter statuses.
var statusLetters = map[string]DeliveryStatus{
	"q": DeliveryQueued, "s": DeliverySending, "t": DeliverySent,
	"d": DeliveryDelivered, "u": DeliveryUndelivered, "f": DeliveryFailed,
}
