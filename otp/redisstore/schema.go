package redisstore

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/otpd/otpd/otp"
)

// The schema of a number's hash: every field name, letter code and script
// outcome is defined here, once. Go reads and writes with these names, and
// the scripts name them (F.status, ST.pending, OUT.cooldown: tables below),
// never as literals of their own. keys.go says what each field holds.
const (
	fieldTo          = "to" // the number (E.164); another one means a tag collision
	fieldSendLog     = "s"  // the number's send times (common.lua's readLog)
	fieldFailures    = "f"  // wrong codes across verifications, "count|windowEnd"
	fieldRand        = "r"  // the current verification's id, random part
	fieldStatus      = "st" // its status, one letter (statusLetters)
	fieldLocale      = "lo" // locale; absent: English
	fieldBrand       = "b"  // brand key (otp.BrandKey)
	fieldAppHash     = "ah" // Android SMS Retriever hash
	fieldChannel     = "ch" // channel of verifications made before attempts had one
	fieldSends       = "n"  // sends
	fieldChecks      = "k"  // checks; absent: 0
	fieldCreated     = "cr" // created, unix ms
	fieldExpiry      = "x"  // expiry, ms after created
	fieldLastSend    = "l"  // last send, ms after created; absent: 0
	fieldMAC         = "h"  // the code's MAC
	fieldSealed      = "e"  // the sealed code
	fieldPrevious    = "p"  // the replaced verification's random part
	fieldWorkflow    = "wf" // a workflow's steps, as channel letters
	fieldStepTimeout = "wt" // its channel timeout, ms
	fieldStep        = "ws" // its current step
	fieldOrigin      = "og" // who started a workflow, "apiKeyId|clientIp"
	// Per attempt n and per workflow step i: prefix + n.
	prefixAttempt = "a" // the attempt's record (attempt records below)
	prefixSID     = "i" // its MessageSid or CallSid (packSID)
	prefixStep    = "w" // the step's record, "status|attempt|started|ended|reason"
)

// defaultLocale is a verification's locale when it has no lo field: the
// scripts leave English out, and verifications made before locales had none.
const defaultLocale = "en"

// statusLetters are the verification statuses at rest.
var statusLetters = map[otp.Status]string{
	otp.StatusPending: "p", otp.StatusApproved: "a", otp.StatusCanceled: "c",
	otp.StatusExpired: "e", otp.StatusMaxAttempts: "m",
}

// deliveryLetters are an attempt's statuses at rest; deliveryRanks their
// order, which a status only ever moves up (final ones share the top).
var (
	deliveryLetters = map[otp.DeliveryStatus]string{
		otp.DeliveryQueued: "q", otp.DeliverySending: "s", otp.DeliverySent: "t",
		otp.DeliveryDelivered: "d", otp.DeliveryUndelivered: "u", otp.DeliveryFailed: "f",
	}
	deliveryRanks = map[otp.DeliveryStatus]int{
		otp.DeliveryQueued: 0, otp.DeliverySending: 1, otp.DeliverySent: 2,
		otp.DeliveryDelivered: 3, otp.DeliveryUndelivered: 3, otp.DeliveryFailed: 3,
	}
)

// attemptChannels are an attempt record's channel letters: SMS, the
// common case, has none, so its records stay as short as before channels.
// workflowChannels are a workflow's steps' letters, where every step has one.
var (
	attemptChannels  = map[string]string{otp.ChannelSMS: "", otp.ChannelWhatsApp: "w", otp.ChannelCall: "c", otp.ChannelTelegram: "t"}
	workflowChannels = map[string]string{otp.ChannelSMS: "s", otp.ChannelWhatsApp: "w", otp.ChannelCall: "c", otp.ChannelTelegram: "t"}
)

// stepLetters are a workflow step's statuses at rest (pending has none:
// a step not reached has no record).
var stepLetters = map[otp.StepStatus]string{
	otp.StepStarted: "a", otp.StepFailed: "f", otp.StepTimedOut: "t", otp.StepSkipped: "k", otp.StepApproved: "v",
}

// The decoding side of each table.
var (
	statusOf      = invert(statusLetters)
	deliveryOf    = invert(deliveryLetters)
	channelOf     = invert(attemptChannels)
	stepOf        = invert(stepLetters)
	stepChannelOf = invert(workflowChannels)
)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// outcome is what a script answers, by name: Go maps each to its result in
// one table per script kind (refusals below); the scripts return OUT.name.
type outcome string

const (
	outCreated     outcome = "created"      // start: a new verification
	outResent      outcome = "resent"       // start: a send on the pending one
	outCooldown    outcome = "cooldown"     // OTP_RESEND_COOLDOWN
	outMaxSends    outcome = "max_sends"    // OTP_MAX_SENDS
	outMaxChecks   outcome = "max_checks"   // locked by wrong codes until it expires
	outLocked      outcome = "locked"       // the number, by FAILED_CHECK_LIMIT
	outSendCap     outcome = "send_cap"     // TO_SEND_LIMIT
	outCollision   outcome = "collision"    // tag or id in use
	outNotFound    outcome = "not_found"    //
	outFinished    outcome = "finished"     // not pending (its status says how)
	outApproved    outcome = "approved"     // check: right code
	outWrong       outcome = "wrong"        // check: wrong code, attempts left
	outExhausted   outcome = "exhausted"    // check: wrong code, the last attempt
	outCanceled    outcome = "canceled"     // cancel: ended now
	outWasCanceled outcome = "was_canceled" // cancel: ended before
	outClaimed     outcome = "claimed"      // claim: send it
	outSent        outcome = "sent"         // claim: an earlier run's message was accepted
	outBusy        outcome = "busy"         // claim: a live run holds it
	outSkip        outcome = "skip"         // claim: nothing to send (reason follows)
	outStarted     outcome = "started"      // step: the next step started
	outSkipped     outcome = "skipped"      // step: the next step was skipped
	outDone        outcome = "done"         // step: no step left
	outStale       outcome = "stale"        // step: moved on already
	outStopped     outcome = "stopped"      // step: the verification ended
	outRecorded    outcome = "recorded"     // report: a new status
	outLimited     outcome = "limited"      // checklimits: a limit of the origin refused
	outSame        outcome = "same"         // report: the same status again
	outIgnored     outcome = "ignored"      // report: stale or about another message
	outAdmit       outcome = "admit"        // guard: no block applies
	outRefuse      outcome = "refuse"       // guard: a block applies
	outSafe        outcome = "safe"         // guard: safe-listed, not judged
)

// The fraud guard's scope hashes (guardlib.lua says what each holds): the
// block's fields and the bookkeeping beside the buckets, whose names are
// numbers.
const (
	guardSince        = "bs"
	guardUntil        = "bu"
	guardSettled      = "bn"
	guardApproved     = "ba"
	guardShadow       = "bh"
	guardJudged       = "j"
	guardWidth        = "w"
	guardLastApproval = "la"
)

// guardScopes are a block's scope letters, in its index member
// ("p:+1415555", "c:US") and in what guard.lua returns.
var guardScopes = map[string]string{otp.FraudScopePrefix: "p", otp.FraudScopeCountry: "c"}

// refusals are the outcomes that are a limit, with the limit they name.
var refusals = map[outcome]otp.LimitReason{
	outCooldown: otp.LimitCooldown, outMaxSends: otp.LimitMaxSends, outMaxChecks: otp.LimitMaxChecks,
	outLocked: otp.LimitFailedChecks, outSendCap: otp.LimitToCap,
}

// allOutcomes lists every outcome, for the scripts.
var allOutcomes = []outcome{
	outCreated, outResent, outCooldown, outMaxSends, outMaxChecks, outLocked, outSendCap, outCollision,
	outNotFound, outFinished, outApproved, outWrong, outExhausted, outCanceled, outWasCanceled,
	outClaimed, outSent, outBusy, outSkip, outStarted, outSkipped, outDone, outStale, outStopped,
	outRecorded, outSame, outIgnored, outAdmit, outRefuse, outSafe, outLimited,
}

// tables are the schema as the scripts name it:
//
//	F         field names (and the prefixes of per-attempt and per-step fields)
//	ST        a verification's status letter by status; STATUS the reverse
//	DS        an attempt's status letter by status; DELIVERY the reverse
//	RANK      an attempt status's rank: a status only moves up
//	CH        an attempt's channel letter by channel; CHANNEL the reverse
//	WF        a workflow step's channel letter by channel; WORKFLOW the reverse
//	STEP      a workflow step's status letter by status
//	OUT       the scripts' outcomes
//	REASON    the reasons the scripts give (otp's DeliveryReasons, ClaimGone …)
//	LOCALE    LOCALE.default, the locale stored as no field
//	FG        the fraud guard's fields
//	SCOPE     a fraud block's scope letter by scope
var tables = func() map[string]map[string]any {
	t := map[string]map[string]any{
		"F": strings2any(map[string]string{
			"to": fieldTo, "sendLog": fieldSendLog, "failures": fieldFailures, "rand": fieldRand, "status": fieldStatus,
			"locale": fieldLocale, "brand": fieldBrand, "appHash": fieldAppHash, "channel": fieldChannel,
			"sends": fieldSends, "checks": fieldChecks, "created": fieldCreated, "expiry": fieldExpiry,
			"lastSend": fieldLastSend, "mac": fieldMAC, "sealed": fieldSealed, "previous": fieldPrevious,
			"workflow": fieldWorkflow, "stepTimeout": fieldStepTimeout, "step": fieldStep, "origin": fieldOrigin,
			"attempt": prefixAttempt, "sid": prefixSID, "stepRecord": prefixStep,
		}),
		"ST": strings2any(stringKeys(statusLetters)), "STATUS": strings2any(stringValues(statusOf)),
		"DS": strings2any(stringKeys(deliveryLetters)), "DELIVERY": strings2any(stringValues(deliveryOf)),
		"CH": strings2any(attemptChannels), "CHANNEL": strings2any(channelOf),
		"WF": strings2any(workflowChannels), "WORKFLOW": strings2any(stepChannelOf),
		"STEP":   strings2any(stringKeys(stepLetters)),
		"LOCALE": {"default": defaultLocale},
		"FG": strings2any(map[string]string{
			"since": guardSince, "until": guardUntil, "settled": guardSettled, "approved": guardApproved,
			"shadow": guardShadow, "judged": guardJudged, "width": guardWidth, "lastApproval": guardLastApproval,
		}),
		"SCOPE": strings2any(guardScopes),
		"OUT":   map[string]any{}, "REASON": map[string]any{}, "RANK": map[string]any{},
	}
	for _, o := range allOutcomes {
		t["OUT"][string(o)] = string(o)
	}
	for _, r := range []string{otp.ClaimGone, otp.ClaimRolledBack, string(otp.ReasonSuperseded), string(otp.ReasonExpired),
		string(otp.ReasonRetrying), otp.StepMaxSends, string(otp.LimitToCap)} {
		t["REASON"][r] = r
	}
	for k, v := range deliveryRanks {
		t["RANK"][string(k)] = v
	}
	return t
}()

var (
	staticName  = regexp.MustCompile(`\b([A-Z]+)\.([A-Za-z_][A-Za-z0-9_]*)\b`)
	dynamicName = regexp.MustCompile(`\b([A-Z]+)\[`)
)

// compile turns a script written against the schema into the script Redis
// runs: each TABLE.key becomes its value, a literal, so that naming a field
// costs nothing at run time; and each table the script indexes by a
// variable (CH[channel]) is defined in front of it. A name the schema
// lacks panics when the package loads: a typo must not read as nil.
func compile(src string) string {
	out := staticName.ReplaceAllStringFunc(src, func(m string) string {
		p := staticName.FindStringSubmatch(m)
		table, ok := tables[p[1]]
		if !ok {
			return m // not the schema's (a Lua library: string.sub, math.max)
		}
		v, ok := table[p[2]]
		if !ok {
			panic(fmt.Sprintf("redisstore: a script names %s, which the schema lacks", m))
		}
		return luaValue(v)
	})
	var b strings.Builder
	seen := map[string]bool{}
	for _, m := range dynamicName.FindAllStringSubmatch(out, -1) {
		table, ok := tables[m[1]]
		if !ok || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		fmt.Fprintf(&b, "local %s = {", m[1])
		for _, k := range slices.Sorted(maps.Keys(table)) {
			fmt.Fprintf(&b, "[%s] = %s, ", luaValue(k), luaValue(table[k]))
		}
		b.WriteString("}\n")
	}
	return b.String() + out
}

// luaValue is v as a Lua literal: a quoted string or a number.
func luaValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func strings2any(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func stringKeys[K ~string](m map[K]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func stringValues[V ~string](m map[string]V) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
