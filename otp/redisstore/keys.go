package redisstore

import (
	"encoding/base64"
	"strings"
)

// A number's state lives in one hash, named by its hash tag alone, so one
// pending verification costs one Redis key (its size is measured by
// BenchmarkPendingVerificationMemory, and BENCHMARKS.md gives the figure). Its
// finished predecessors move to an archive key with the same tag, so every
// key of one number is in one Redis Cluster slot and each Lua script
// touches a single slot.
//
// The number hash holds (schema.go names each field once):
//   to         the number (E.164); a different one means a tag collision
//   s          send times for the rolling cap (common.lua's readLog)
//   f          wrong codes across verifications, "count|windowEnd"
// and its current verification (see record.go):
//   r          the id's random part; the id is "VE" + tag + r
//   st         status, one letter (statusLetters)
//   lo         locale of its messages and calls; absent: English
//   b, ah      brand (when a request named one) and Android app hash
//   ch         channel of verifications made before attempts had one
//   n, k       sends and checks; k is read as 0 when absent (a later
//              release may leave it out at 0)
//   cr         created (unix ms); x expiry and l last send, in ms after cr
//              (l: as k)
//   a<n>, i<n> send attempt n, with its channel, and its MessageSid or
//              CallSid (attempt.lua says how a record reads)
//   h, e       the code's MAC and sealed code, deleted when the code dies:
//              at approval, cancel, lock, or the first script that finds
//              it expired (Redis 7.0 has no per-field expiry)
//   p          the id's random part of the verification this one replaced
//   wf, wt, ws a fallback workflow: its steps' channels as letters, its
//              channel timeout, its current step (common.lua)
//   w<i>       workflow step i, "status|attempt|started|ended|reason"
//   og         who started a workflow ("apiKeyId|clientIp"): its steps
//              count against their limits

func keyPrefix(tag string) string { return "otp:{" + tag + "}" }

// numberKey is the hash with the number's state and current verification.
func numberKey(tag string) string { return keyPrefix(tag) }

// A finished verification stays readable, without its code, after a new
// one took the number's hash: in keyPrefix(tag) + ":v:" + its id, a name
// only the scripts build (common.lua's archiveKey), from the prefix that
// locator gives them.

// idempotencyPrefix starts the keys of the Idempotency-Key answers of an
// API key (scope): under the scope's hash tag, or with parts
// (Idempotency.WithParts) under a part's, so that each answer is in one
// Cluster slot with its count toward the scope's cap, and one script
// claims, keeps or forgets it and counts. With parts, one API key's
// answers spread over the parts' slots (one per master).
func idempotencyPrefix(part, scope string) string {
	if part == "" {
		return "otp:idem:{" + scope + "}:"
	}
	return "otp:idem:{" + part + "}:" + scope + ":"
}

// idempotencyKey holds the answer to a request made with an
// Idempotency-Key. The client's key is hashed: it is up to 255 characters
// of the client's choosing, the hash 22.
func idempotencyKey(prefix string, key [16]byte) string {
	return prefix + base64.RawURLEncoding.EncodeToString(key[:])
}

// idempotencyCountKey counts the answers kept under prefix, a window.lua
// limit over idempotency.TTL (no digest is 4 characters long).
func idempotencyCountKey(prefix string) string { return prefix + "kept" }

// PendingEventsKey indexes the verification events waiting for delivery by
// when they happened (EventIndex).
const PendingEventsKey = "otp:webhooks:pending"

// throttleKey is the rate of deliveries across every worker (Throttle;
// redis_rate adds its "rate:" prefix).
const throttleKey = "otp:sms"

func idBase(tag string) string { return "VE" + tag }

// randOf is the random part of verification id of the number with tag.
func randOf(tag, id string) string { return strings.TrimPrefix(id, idBase(tag)) }

// recordKey is the hash with a tenant's current verification of the
// number with tag: the number hash itself for the default tenant (""), so
// that a deployment without TENANTS_FILE keeps its keys, and
// otp:{tag}:t:<tenant> for the others. Same hash tag, same Cluster slot: a
// script reads the tenant's record and the number's own fields (its send
// log and wrong codes, which every tenant shares because they guard the
// phone's owner) together. A tenant's archived verifications hang off its
// record's name (archiveKey), so no tenant can reach another's by id.
func recordKey(tag, tenant string) string {
	if tenant == "" {
		return numberKey(tag)
	}
	return numberKey(tag) + ":t:" + tenant
}

// locator is the arguments every script that finds a verification by id
// starts with: the tenant's record key (the prefix of its archive keys),
// the id's fixed part, its random part.
func locator(tag, tenant, id string) []any {
	return []any{recordKey(tag, tenant), idBase(tag), randOf(tag, id)}
}

// The fraud guard's keys share a hash tag, "otp:fraud" (or a part's, with
// QUEUE_SHARDS: Guard.WithParts), so guard.lua reads a range, its country,
// the blocks and the safe list in one Cluster slot:
//
//	fraud:{tag}:p:<prefix>   a range's counts and block (guardlib.lua)
//	fraud:{tag}:c:<region>   a country's
//	fraud:{tag}:blocks       the blocks made, by end, "p:<prefix>" or "c:<region>"
//	fraud:{tag}:safe         the safe list's API entries (in every part)
const guardDefaultTag = "otp:fraud"

func guardTag(tag string) string { return "fraud:{" + tag + "}:" }

func guardScopeKey(tag, scope, name string) string {
	return guardTag(tag) + guardScopes[scope] + ":" + name
}
func guardBlocksKey(tag string) string { return guardTag(tag) + "blocks" }
func guardSafeKey(tag string) string   { return guardTag(tag) + "safe" }
