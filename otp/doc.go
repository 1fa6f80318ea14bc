// Package otp is the domain of the service: verifications, their codes, the
// rules of their lifecycle, and the Redis store that enforces those rules
// atomically. The HTTP api (cmd/api) and the asynq worker (cmd/worker, with
// package tasks) both work through its Service; this page follows one
// verification through it.
//
// # Start
//
// A send request (Service.Send, service.go) parses the number with
// nyaruka/phonenumbers (phone.go) and plans its channels (plan, and
// workflow.go for a fallback workflow). Codec (code.go) draws the code
// from crypto/rand and turns it into the only two forms that ever leave
// the process: an HMAC to check it against, and an AES-GCM sealed copy that
// only the worker opens to write the message. The plaintext is never
// stored, queued or logged; the number is known to Redis by a keyed hash of
// it, its tag, which also names the Cluster slot of everything about it
// (keys.go). A verification id is "VE" + tag + random (NewID).
//
// In one pipelined round trip the cross-number limits of the Guard
// (guard.go; per IP, API key, country, prefix and channel budgets, in
// internal/ratelimit) are taken and lua/start.lua runs: it applies the
// per-number rules (the resend cooldown, OTP_MAX_SENDS, TO_SEND_LIMIT, the
// lock after FAILED_CHECK_LIMIT wrong codes) and creates the verification,
// one hash per number, or adds a send attempt to the pending one with the
// same code. Then the Queue gets a SendJob, which holds the id and attempt
// number and no code. If that enqueue fails, lua/rollback.lua undoes the
// start and the limits are refunded, so a 503 leaves nothing behind.
//
// # Delivery
//
// The worker's send task (package tasks) claims the attempt through
// lua/attempt.lua. The claim is atomic with reading what the message needs,
// and no send happens for a verification that ended or whose code has too
// little life left (MinValidity, MinCallValidity). It opens the sealed code
// and hands a Message to the Sender (sender.go; package twilio). The
// attempt's status only moves forward: queued, sending, sent, then
// delivered, undelivered or failed. This holds whether the news comes from
// the worker, from Twilio's status callbacks (Service.DeliveryReport), or
// late and out of order.
//
// # Workflow
//
// A verification with a fallback workflow (workflow.go) keeps its steps in
// the same hash. lua/step.lua moves the workflow from the step it names to
// the next, at most once per step. Three things trigger it: a failed
// delivery (AttemptEnded), a step's timeout (StepTimedOut, an asynq task),
// or a retry of either. Each step takes its channel's limits before it
// starts, and is skipped with the reason when they refuse. Every step sends
// the same code.
//
// # Check
//
// A check (Service.Check) is lua/check.lua: one script that compares the
// HMACs, counts the attempt and approves, all atomically. So two concurrent
// right codes approve once, a wrong code can never push the count past
// OTP_MAX_CHECKS, and a resend does not reset it. Wrong codes also count
// per number across verifications, and lock it (FAILED_CHECK_LIMIT).
// Approval deletes the MAC and the sealed code.
//
// # End
//
// A verification ends approved, canceled (lua/cancel.lua), locked by its
// checks (max_attempts_reached) or expired: the code's TTL passed, which a
// read notices (expireOnRead; lua/view.lua for reads). When a new
// verification replaces an ended one, the old one is archived in its own
// key until its retention passes, so GET by id still answers.
//
// # Events
//
// What happened is told to the Observer (metrics) and, with WEBHOOK_URL
// set, to the Events sink (events.go), which queues one event per
// happening. Each event has a stable id, which makes retries harmless.
//
// # Conventions
//
// Every script is headed by its KEYS, ARGV and return values, and shares
// lua/common.lua. Scripts read time from Redis (TIME) unless a test clock
// is injected with Store.WithClock. The domain's errors (verification.go)
// become HTTP answers in one place, cmd/api/problem.go.
package otp
