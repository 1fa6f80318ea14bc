package redisstore

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/otpd/otpd/otp"
)

// The schema of a number's hash: every field name, letter code and script
// outcome is defined here, once. Go reads and writes with these names, and
// the scripts get them from the prelude (prelude below), never as literals
// of their own. keys.go says what each field holds.
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
	attemptChannels  = map[string]string{otp.ChannelSMS: "", otp.ChannelWhatsApp: "w", otp.ChannelCall: "c"}
	workflowChannels = map[string]string{otp.ChannelSMS: "s", otp.ChannelWhatsApp: "w", otp.ChannelCall: "c"}
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
// one table per script kind (refusals below), the scripts return them
// from the prelude's OUT.
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
	outSame        outcome = "same"         // report: the same status again
	outIgnored     outcome = "ignored"      // report: stale or about another message
)

// refusals are the outcomes that are a limit, with the limit they name.
var refusals = map[outcome]otp.LimitReason{
	outCooldown: otp.LimitCooldown, outMaxSends: otp.LimitMaxSends, outMaxChecks: otp.LimitMaxChecks,
	outLocked: otp.LimitFailedChecks, outSendCap: otp.LimitToCap,
}

// allOutcomes lists every outcome, for the prelude.
var allOutcomes = []outcome{
	outCreated, outResent, outCooldown, outMaxSends, outMaxChecks, outLocked, outSendCap, outCollision,
	outNotFound, outFinished, outApproved, outWrong, outExhausted, outCanceled, outWasCanceled,
	outClaimed, outSent, outBusy, outSkip, outStarted, outSkipped, outDone, outStale, outStopped,
	outRecorded, outSame, outIgnored,
}

// prelude is the Lua every verification script starts with: the schema
// above as tables, so that a script says F.status where it would say 'st',
// ST.pending for 'p' and OUT.cooldown for its answer.
//
//	F         field names (and the prefixes of per-attempt and per-step fields)
//	ST        a verification's status letter by status; STATUS the reverse
//	DS        an attempt's status letter by status; DELIVERY the reverse
//	RANK      an attempt status's rank: a status only moves up
//	CH        an attempt's channel letter by channel; CHANNEL the reverse
//	WF        a workflow step's channel letter by channel; WORKFLOW the reverse
//	STEP      a workflow step's status letter by status
//	OUT       the scripts' outcomes
var prelude = func() string {
	var b strings.Builder
	table := func(name string, m map[string]string) {
		fmt.Fprintf(&b, "local %s = {", name)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "[%q] = %q, ", k, m[k])
		}
		b.WriteString("}\n")
	}
	table("F", map[string]string{
		"to": fieldTo, "sendLog": fieldSendLog, "failures": fieldFailures, "rand": fieldRand, "status": fieldStatus,
		"locale": fieldLocale, "brand": fieldBrand, "appHash": fieldAppHash, "channel": fieldChannel,
		"sends": fieldSends, "checks": fieldChecks, "created": fieldCreated, "expiry": fieldExpiry,
		"lastSend": fieldLastSend, "mac": fieldMAC, "sealed": fieldSealed, "previous": fieldPrevious,
		"workflow": fieldWorkflow, "stepTimeout": fieldStepTimeout, "step": fieldStep, "origin": fieldOrigin,
		"attempt": prefixAttempt, "sid": prefixSID, "stepRecord": prefixStep,
	})
	table("ST", stringKeys(statusLetters))
	table("STATUS", stringValues(statusOf))
	table("DS", stringKeys(deliveryLetters))
	table("DELIVERY", stringValues(deliveryOf))
	table("CH", attemptChannels)
	table("CHANNEL", channelOf)
	table("WF", workflowChannels)
	table("WORKFLOW", stepChannelOf)
	table("STEP", stringKeys(stepLetters))
	outs := map[string]string{}
	for _, o := range allOutcomes {
		outs[string(o)] = string(o)
	}
	table("OUT", outs)
	b.WriteString("local RANK = {")
	for _, k := range slices.Sorted(maps.Keys(deliveryRanks)) {
		fmt.Fprintf(&b, "[%q] = %d, ", k, deliveryRanks[k])
	}
	b.WriteString("}\n")
	return b.String()
}()

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
