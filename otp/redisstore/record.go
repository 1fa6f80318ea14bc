package redisstore

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otpd/otpd/otp"
)

// parseVerification reads a script's view of verification id (common.lua's
// view), settled at now (a zero now judges no expiry).
func parseVerification(id, x any, now time.Time) (otp.Verification, error) {
	packed, ok := x.(string)
	sid, ok2 := id.(string)
	if !ok || !ok2 {
		return otp.Verification{}, fmt.Errorf("redisstore: unexpected script reply %T %T", id, x)
	}
	m, err := unpackView(packed)
	if err != nil {
		return otp.Verification{}, err
	}
	v, err := fromView(m)
	v.ID = sid
	v.Settle(now)
	return v, err
}

// view is common.lua's view of a hash: its fields, in the order the script
// wrote them. A view holds a dozen or so fields, so a scan finds one for
// less than a map of them costs to build (a map was 3 KB of a request's
// allocations).
type view []viewField

type viewField struct{ name, value string }

// get is field name's value, and whether the view has it.
func (v view) get(name string) (string, bool) {
	for _, f := range v {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// of is field name's value, "" when the view has none.
func (v view) of(name string) string {
	s, _ := v.get(name)
	return s
}

// unpackView reads common.lua's view: "<name>:<length>:<value>" for each
// field. The values are substrings of the reply: no copy each.
func unpackView(s string) (view, error) {
	v := make(view, 0, 16)
	for s != "" {
		name, rest, ok := strings.Cut(s, ":")
		size, rest, ok2 := strings.Cut(rest, ":")
		n, err := strconv.Atoi(size)
		if !ok || !ok2 || err != nil || n < 0 || n > len(rest) {
			return nil, fmt.Errorf("redisstore: corrupt script reply at %q", name)
		}
		v = append(v, viewField{name, rest[:n]})
		s = rest[n:]
	}
	return v, nil
}

// packView is unpackView's inverse, as common.lua's view writes it.
func packView(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s:%d:%s", k, len(v), v)
	}
	return b.String()
}

// fromView reads a verification's fields as keys.go lists them.
func fromView(m view) (otp.Verification, error) {
	var v otp.Verification
	var err error
	num := func(k string) int64 {
		s, ok := m.get(k)
		if !ok && (k == fieldChecks || k == fieldLastSend) {
			return 0 // to be left out at its default by a later release
		}
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("redisstore: corrupt field %q", k)
		}
		return n
	}
	v.To = m.of(fieldTo)
	v.Locale = cmp.Or(m.of(fieldLocale), defaultLocale)
	st, ok := statusOf[m.of(fieldStatus)]
	if !ok {
		err = fmt.Errorf("redisstore: corrupt field %q", fieldStatus)
	}
	v.Status = st
	v.SendAttempts = int(num(fieldSends))
	v.CheckAttempts = int(num(fieldChecks))
	v.CreatedAt = time.UnixMilli(num(fieldCreated)).UTC()
	v.ExpiresAt = v.CreatedAt.Add(time.Duration(num(fieldExpiry)) * time.Millisecond)
	v.LastSendAt = v.CreatedAt.Add(time.Duration(num(fieldLastSend)) * time.Millisecond)
	v.Attempts = make([]otp.Attempt, 0, v.SendAttempts)
	for i := 1; i <= v.SendAttempts && err == nil; i++ {
		n := strconv.Itoa(i)
		a, perr := parseAttempt(i, m.of(prefixAttempt+n), m.of(prefixSID+n), v.CreatedAt, m.of(fieldChannel))
		if perr != nil {
			err = perr
		}
		v.Attempts = append(v.Attempts, a)
	}
	if err == nil {
		v.Workflow, err = parseWorkflow(m, v.CreatedAt)
	}
	v.Origin.APIKeyID, v.Origin.ClientIP, _ = strings.Cut(m.of(fieldOrigin), "|")
	v.Channel = otp.ChannelSMS
	if n := len(v.Attempts); n > 0 {
		last := v.Attempts[n-1]
		v.Channel = last.Channel
		v.Delivery = otp.Delivery{Channel: last.Channel, Status: last.Status, RawStatus: last.RawStatus,
			MessageSID: last.MessageSID, ErrorCode: last.ErrorCode, Reason: last.Reason, UpdatedAt: last.UpdatedAt}
	}
	return v, err
}

// parseAttempt reads an attempt record (attempt.lua): times in ms after
// created, and for other channels than SMS or once the gateway named a
// status, "|channel|rawStatus"; sid is the attempt's packed sid. legacy is
// the channel of records made before attempts had one.
func parseAttempt(n int, raw, sid string, created time.Time, legacy string) (otp.Attempt, error) {
	p := strings.Split(raw, "|")
	st, ok := deliveryOf[p[min(3, len(p)-1)]]
	if (len(p) != 7 && len(p) != 9) || !ok {
		return otp.Attempt{}, fmt.Errorf("redisstore: corrupt attempt %d", n)
	}
	channel, rawStatus := cmp.Or(legacy, otp.ChannelSMS), ""
	if len(p) == 9 {
		if channel, ok = channelOf[p[7]]; !ok {
			return otp.Attempt{}, fmt.Errorf("redisstore: corrupt attempt %d", n)
		}
		rawStatus = p[8]
	}
	num := func(s string) int64 { x, _ := strconv.ParseInt(s, 10, 64); return x }
	return otp.Attempt{
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

// parseWorkflow reads a verification's workflow fields; nil when it has
// none.
func parseWorkflow(m view, created time.Time) (*otp.Workflow, error) {
	letters := m.of(fieldWorkflow)
	if letters == "" {
		return nil, nil
	}
	timeout, err := strconv.ParseInt(m.of(fieldStepTimeout), 10, 64)
	if err != nil || len(letters) > otp.MaxWorkflowSteps {
		return nil, fmt.Errorf("redisstore: corrupt workflow")
	}
	w := &otp.Workflow{ChannelTimeout: int(timeout / 1000)}
	at := func(s string) *time.Time {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		t := created.Add(time.Duration(ms) * time.Millisecond)
		return &t
	}
	for i := range len(letters) {
		channel := stepChannelOf[letters[i:i+1]]
		st := otp.Step{Step: i + 1, Channel: channel, Status: otp.StepPending}
		if raw, ok := m.get(prefixStep + strconv.Itoa(i+1)); ok {
			p := strings.Split(raw, "|")
			status, ok := stepOf[p[0]]
			if len(p) != 5 || !ok || channel == "" {
				return nil, fmt.Errorf("redisstore: corrupt workflow step %d", i+1)
			}
			st.Status, st.Reason = status, p[4]
			st.Attempt, _ = strconv.Atoi(p[1])
			st.StartedAt, st.EndedAt = at(p[2]), at(p[3])
		}
		w.Steps = append(w.Steps, st)
	}
	return w, nil
}

// workflowLetters is a workflow's channels at rest.
func workflowLetters(channels []string) string {
	var b strings.Builder
	for _, c := range channels {
		b.WriteString(workflowChannels[c])
	}
	return b.String()
}

// recordSafe keeps a reason fit for the scripts' '|'-separated records.
func recordSafe(s string) string { return strings.ReplaceAll(s, "|", "_") }

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
