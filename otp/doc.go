// Package otp is the domain of the service: verifications, their codes, and
// the rules of their lifecycle. It knows no Redis, queue or gateway: it
// reaches them through the ports in ports.go and store.go, which packages
// of their own implement (otp/redisstore the Store and Limiter, tasks the
// Queue and Events, twilio the Sender, internal/messages the Texts and
// Locales, internal/metrics the observers). The api (cmd/api) and the
// worker (cmd/worker, through tasks) enter it only through Service;
// internal/app builds one for both. This page follows one verification
// through it.
//
// # Start
//
// A start request (Service.Start, start.go) is checked (plan) and its
// number parsed with nyaruka/phonenumbers (phone.go). Codec (code.go) draws
// the code from crypto/rand and turns it into the only two forms that ever
// leave the process: an HMAC to check it against, and an AES-GCM sealed
// copy that only the worker opens to write the message. The plaintext is
// never stored, queued or logged; the number is known to the store by a
// keyed hash of it, its tag. A verification id is "VE" + tag + random.
//
// Store.Start applies the per-number rules (the resend cooldown,
// OTP_MAX_SENDS, TO_SEND_LIMIT, the lock after FAILED_CHECK_LIMIT wrong
// codes) and takes the cross-number limits (per IP, API key, country,
// prefix and channel budgets) with it, all or nothing, and creates the
// verification or adds a send attempt to the pending one with the same
// code. Then the Queue gets a DeliveryJob, which holds the id and attempt
// number and no code. If that enqueue fails, the start is undone, so a 503
// leaves no verification that nobody will send. With a Replication
// (REDIS_MIN_REPLICAS), the start also waits, before and after the
// enqueue, until Redis replicas have its writes, and is undone alike when
// too few do in time (ErrNotReplicated).
//
// # Delivery
//
// The worker hands each job to Service.Deliver (deliver.go). It claims the
// attempt from the store, atomically with reading what the message needs;
// nothing is sent for a verification that ended or whose code has too
// little life left (MinValidity, MinCallValidity). It opens the sealed
// code, writes the message in the verification's locale (Texts) and hands
// it to the Sender. The attempt's status only moves forward: queued,
// sending, sent, then delivered, undelivered or failed, whether the news
// comes from the worker, from the gateway's status callbacks
// (Service.DeliveryReport), or late and out of order.
//
// # Workflow
//
// A verification with a fallback workflow (workflow.go) moves from the
// step its trigger names to the next, at most once per step. Three things
// trigger it: a failed delivery (AttemptEnded), a step's timeout
// (StepTimedOut), or a retry of either. Each step takes its channel's
// limits before it starts, and is skipped with the reason when they
// refuse. Every step sends the same code.
//
// # Check
//
// A check (Service.Check, check.go) is one store operation that compares
// the MACs, counts the attempt and approves, atomically. So two concurrent
// right codes approve once, a wrong code can never push the count past
// OTP_MAX_CHECKS, and a resend does not reset it. Wrong codes also count
// per number across verifications, and lock it (FAILED_CHECK_LIMIT).
// Approval deletes the MAC and the sealed code.
//
// # End
//
// A verification ends approved, canceled, locked by its checks
// (max_attempts_reached) or expired: the code's TTL passed, which a read
// notices (Verification.Settle). A finished verification stays readable
// until its retention passes, so GET by id still answers.
//
// # Events
//
// What happened is told to the Observer (metrics) and, with WEBHOOK_URL
// set, to Events (events.go), which queues one event per happening. Each
// event has a stable id, which makes retries harmless.
//
// The domain's errors (verification.go) become HTTP answers in one place,
// cmd/api/problem.go, and asynq's next step in one place, tasks/retry.go.
package otp
