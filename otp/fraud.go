package otp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The fraud guard blocks SMS pumping by itself: a number range (prefix)
// whose codes nobody enters is blocked for hours, and so is a country
// whose codes nobody enters, except for the ranges that have shown
// approvals. The counting and judging ride on the send's own round trip
// (the store's part: otp/redisstore/lua/guard.lua); the rules of who is
// spared (safe list, mode) and what a block does are here.

// FraudMode is FRAUD_GUARD: on refuses, shadow only tells, off does nothing.
type FraudMode string

const (
	FraudOn     FraudMode = "on"
	FraudShadow FraudMode = "shadow"
	FraudOff    FraudMode = "off"
)

// ParseFraudMode reads FRAUD_GUARD.
func ParseFraudMode(s string) (FraudMode, bool) {
	switch m := FraudMode(s); m {
	case FraudOn, FraudShadow, FraudOff:
		return m, true
	}
	return "", false
}

// The scopes a block can have.
const (
	FraudScopePrefix  = "prefix"
	FraudScopeCountry = "country"
)

// FraudBlock is a number range or a country that the guard blocked, with
// the counts it was judged on.
type FraudBlock struct {
	Scope string `json:"scope"` // prefix or country
	// Prefix ("+1415555", the number less its last PREFIX_DIGITS digits)
	// or Country (ISO 3166 region) names what is blocked.
	Prefix  string    `json:"prefix,omitempty"`
	Country string    `json:"country,omitempty"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	// Settled verifications in the window when it was judged, and how
	// many of them were approved.
	Settled  int `json:"settled"`
	Approved int `json:"approved"`
	// Shadow: FRAUD_GUARD=shadow made it; it refuses nothing.
	Shadow bool `json:"shadow"`
}

// Name is what the API calls a block: its prefix or its country.
func (b FraudBlock) Name() string {
	if b.Scope == FraudScopeCountry {
		return b.Country
	}
	return b.Prefix
}

// FraudVerdict is what the guard made of one send.
type FraudVerdict struct {
	// Block is the block that refuses the send (in shadow mode: that would
	// refuse it); nil when none does.
	Block *FraudBlock
	// New are the blocks this send's judgement made (a country's may be new
	// while the send's own range is spared by its approvals).
	New []FraudBlock
}

// FraudUnblock says why a block ended.
type FraudUnblock string

const (
	UnblockExpired FraudUnblock = "expired" // FRAUD_BLOCK_TTL passed
	UnblockLifted  FraudUnblock = "lifted"  // DELETE /v1/fraud/blocks/{prefix}
)

// FraudGuard is the store's side of the guard beyond a send's judgement:
// the approvals it learns after the fact, the blocks and the safe list.
type FraudGuard interface {
	// Approved counts an approval of a verification made at createdAt to
	// a number of prefix and region (as a send's scope names them).
	Approved(prefix, region string, createdAt time.Time)
	// Blocks lists the blocks in force.
	Blocks(ctx context.Context) ([]FraudBlock, error)
	// Lift ends the block named name (a prefix or a region) at once and
	// restarts its counts; ok is false when none was in force.
	Lift(ctx context.Context, name string) (b FraudBlock, ok bool, err error)
	// Ended reports, once, that the block named name which was to end at
	// until has ended by itself (not lifted, not replaced): ok is false
	// when it is not so, or was reported already.
	Ended(ctx context.Context, name string, until time.Time) (b FraudBlock, ok bool, err error)
	// Safe reports whether e164 is on the safe list the store keeps.
	Safe(ctx context.Context, e164 string) (bool, error)
	SafeList(ctx context.Context) ([]string, error)
	AddSafe(ctx context.Context, entry string) error
	RemoveSafe(ctx context.Context, entry string) error
}

// ErrSafeListFixed means an entry comes from FRAUD_SAFE_LIST, which only a
// restart changes.
var ErrSafeListFixed = errors.New("entry is in FRAUD_SAFE_LIST")

// ParseSafeEntry reads a safe-list entry: "+" and 1 to 15 digits, a whole
// E.164 number or the start of one.
func ParseSafeEntry(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || len(s) > 16 || s[0] != '+' || !allDigits(s[1:]) || s[1] == '0' {
		return "", &InputError{Detail: fmt.Sprintf("%q is not + and 1 to 15 digits (an E.164 number or its start)", clipInput(s))}
	}
	return s, nil
}

// ParseBlockName reads the name of a block in a URL: a prefix ("+" and
// digits) or a country (an ISO 3166 region, any case).
func ParseBlockName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2 && isLetter(s[0]) && isLetter(s[1]) {
		return strings.ToUpper(s), nil
	}
	if s == NonGeographicRegion {
		return s, nil
	}
	if e, err := ParseSafeEntry(s); err == nil {
		return e, nil
	}
	return "", &InputError{Detail: fmt.Sprintf("%q is neither a prefix (+ and digits) nor a country (two letters)", clipInput(s))}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// NonGeographicRegion is libphonenumber's region of the numbers of no
// country (+800, +808, +870, +881, +882, +883, +888, +979): the guard
// judges them together, as one more country.
const NonGeographicRegion = "001"

// clipInput keeps an echoed input short.
func clipInput(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// SafeList is FRAUD_SAFE_LIST: numbers and prefixes the guard and the
// number-type block spare (never the rate limits or budgets).
type SafeList []string

// Has reports whether e164 is on the list: it is an entry, or starts with one.
func (l SafeList) Has(e164 string) bool {
	for _, e := range l {
		if strings.HasPrefix(e164, e) {
			return true
		}
	}
	return false
}

// safe reports whether e164 is spared: FRAUD_SAFE_LIST, then the store's
// list. Only a refusal asks, so the store's list costs nothing otherwise.
func (s *Service) safe(ctx context.Context, e164 string) (bool, error) {
	if s.policy.SafeList.Has(e164) {
		return true, nil
	}
	if s.d.Fraud == nil {
		return false, nil
	}
	ok, err := s.d.Fraud.Safe(ctx, e164)
	if err != nil {
		return false, fmt.Errorf("%w: safe list: %w", ErrUnavailable, err)
	}
	return ok, nil
}

// verdictOf is the guard's verdict on a send: the one that came with it,
// or the one its refusal carries.
func verdictOf(v FraudVerdict, err error) FraudVerdict {
	var le *LimitError
	if errors.As(err, &le) && le.Fraud != nil {
		return *le.Fraud
	}
	return v
}

// fraudApproved counts an approval for the guard: the conversion of the
// verification's range and country.
func (s *Service) fraudApproved(v Verification) {
	if s.d.Fraud == nil || s.policy.Fraud == FraudOff || s.policy.Fraud == "" {
		return
	}
	phone, err := ParsePhone(v.To, "")
	if err != nil || s.policy.SafeList.Has(phone.E164) {
		return // a spared number's approvals would vouch for its range
	}
	s.d.Fraud.Approved(phone.Prefix(s.policy.PrefixDigits), phone.Region, v.CreatedAt)
}

// fraudSeen counts, logs and tells what the guard made of a send: the
// blocks it made, and the block that refused it (or in shadow mode would
// have).
func (s *Service) fraudSeen(ctx context.Context, v FraudVerdict) {
	for _, b := range v.New {
		s.d.Observer.FraudBlocked(b.Scope, b.Shadow)
		s.d.Log.WarnContext(ctx, "fraud guard: blocked", "scope", b.Scope, "name", b.Name(), "until", b.Until,
			"settled", b.Settled, "approved", b.Approved, "shadow", b.Shadow)
		s.emitFraud(ctx, EventFraudBlocked, b, "")
		if err := s.d.Queue.ScheduleBlockEnd(ctx, b.Name(), b.Until); err != nil {
			s.d.Log.ErrorContext(ctx, "schedule the end of a fraud block", "name", b.Name(), "err", err)
		}
	}
	if v.Block != nil {
		s.d.Observer.FraudRefused(v.Block.Scope, v.Block.Shadow)
	}
}

// FraudBlocks lists the blocks in force.
func (s *Service) FraudBlocks(ctx context.Context) ([]FraudBlock, error) {
	if s.d.Fraud == nil {
		return []FraudBlock{}, nil
	}
	bs, err := s.d.Fraud.Blocks(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: fraud blocks: %w", ErrUnavailable, err)
	}
	return bs, nil
}

// LiftFraudBlock ends a block now (name: a prefix or a region) and
// restarts its counts.
func (s *Service) LiftFraudBlock(ctx context.Context, name string) (FraudBlock, error) {
	name, err := ParseBlockName(name)
	if err != nil {
		return FraudBlock{}, err
	}
	if s.d.Fraud == nil {
		return FraudBlock{}, ErrNoFraudBlock
	}
	b, ok, err := s.d.Fraud.Lift(ctx, name)
	switch {
	case err != nil:
		return FraudBlock{}, fmt.Errorf("%w: lift: %w", ErrUnavailable, err)
	case !ok:
		return FraudBlock{}, ErrNoFraudBlock
	}
	s.unblocked(ctx, b, UnblockLifted)
	return b, nil
}

// FraudBlockEnded tells that the block named name, due to end at until,
// has ended, unless it was lifted or replaced: the worker runs it when the
// block's time is up.
func (s *Service) FraudBlockEnded(ctx context.Context, name string, until time.Time) error {
	if s.d.Fraud == nil {
		return nil
	}
	b, ok, err := s.d.Fraud.Ended(ctx, name, until)
	if err != nil || !ok {
		return err
	}
	s.unblocked(ctx, b, UnblockExpired)
	return nil
}

func (s *Service) unblocked(ctx context.Context, b FraudBlock, why FraudUnblock) {
	s.d.Observer.FraudUnblocked(b.Scope, why)
	s.d.Log.InfoContext(ctx, "fraud guard: unblocked", "scope", b.Scope, "name", b.Name(), "reason", why, "shadow", b.Shadow)
	s.emitFraud(ctx, EventFraudUnblocked, b, why)
}

// ErrNoFraudBlock means no block of that name is in force.
var ErrNoFraudBlock = errors.New("no such fraud block")

// ErrFraudBlockNotOver means a block's end, by the store's clock, is still
// ahead: ask again later.
var ErrFraudBlockNotOver = errors.New("fraud block not over yet")

// SafeListEntry is one entry of the safe list, and where it comes from.
type SafeListEntry struct {
	Entry  string `json:"entry"`
	Source string `json:"source"` // "config" (FRAUD_SAFE_LIST) or "api"
}

// FraudSafeList lists FRAUD_SAFE_LIST and the entries added through the API.
func (s *Service) FraudSafeList(ctx context.Context) ([]SafeListEntry, error) {
	out := make([]SafeListEntry, 0, len(s.policy.SafeList))
	for _, e := range s.policy.SafeList {
		out = append(out, SafeListEntry{Entry: e, Source: "config"})
	}
	if s.d.Fraud == nil {
		return out, nil
	}
	added, err := s.d.Fraud.SafeList(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: safe list: %w", ErrUnavailable, err)
	}
	for _, e := range added {
		out = append(out, SafeListEntry{Entry: e, Source: "api"})
	}
	return out, nil
}

// AddSafe puts entry on the safe list.
func (s *Service) AddSafe(ctx context.Context, entry string) (string, error) {
	e, err := ParseSafeEntry(entry)
	if err != nil {
		return "", err
	}
	if s.d.Fraud == nil {
		return e, nil
	}
	if err := s.d.Fraud.AddSafe(ctx, e); err != nil {
		return "", fmt.Errorf("%w: safe list: %w", ErrUnavailable, err)
	}
	return e, nil
}

// RemoveSafe takes entry off the safe list; an entry of FRAUD_SAFE_LIST
// stays (ErrSafeListFixed).
func (s *Service) RemoveSafe(ctx context.Context, entry string) error {
	e, err := ParseSafeEntry(entry)
	if err != nil {
		return err
	}
	for _, f := range s.policy.SafeList {
		if f == e {
			return ErrSafeListFixed
		}
	}
	if s.d.Fraud == nil {
		return nil
	}
	if err := s.d.Fraud.RemoveSafe(ctx, e); err != nil {
		return fmt.Errorf("%w: safe list: %w", ErrUnavailable, err)
	}
	return nil
}
