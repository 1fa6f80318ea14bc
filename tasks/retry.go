package tasks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/otp"
)

// RetryDelay is the backoff between tries of a delivery: seconds, not
// asynq's minutes-scale default, because a code is useless after OTP_TTL.
// It grows 1s, 2s, 4s … capped at 30s, with ±25% jitter so a gateway
// outage does not end in a synchronized stampede; a gateway's Retry-After
// wins when longer. A deferred task (rate limit, busy claim) waits exactly
// as long as asked.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var w *otp.WaitError
	if errors.As(err, &w) {
		return max(w.Wait, 10*time.Millisecond)
	}
	base := backoff(n)
	d := base*3/4 + time.Duration(jitter(int64(base/2)))
	if ra := retryAfter(err); ra > 0 {
		// asynq schedules retries in whole Unix seconds, rounding down, so
		// a retry may run up to 1s early; Twilio's Retry-After is a floor.
		d = max(d, ra+time.Second)
	}
	return d
}

// minRetryDelay is the shortest delay RetryDelay can return for n and err.
func minRetryDelay(n int, err error) time.Duration {
	return max(backoff(n)*3/4, retryAfter(err))
}

func backoff(n int) time.Duration { return min(time.Second<<min(n, 5), 30*time.Second) }

func retryAfter(err error) time.Duration {
	var se *otp.SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// jitter returns a uniform duration in [0, n); math/rand is fine here, the
// value only spreads retries.
func jitter(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}

// IsFailure tells asynq which errors count against MaxRetry: a wait the
// service asked for is not one.
func IsFailure(err error) bool {
	var w *otp.WaitError
	return err != nil && !errors.As(err, &w) && !errors.Is(err, asynq.RevokeTask)
}

// classify turns what the service said into what asynq does next: retry
// (a transient error, after RetryDelay), wait (*otp.WaitError, not a
// failure), keep as failed without retrying (otp.ErrGaveUp), or drop
// (otp.ErrTooLate: nothing left to keep).
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, otp.ErrTooLate):
		return fmt.Errorf("%w: %w", err, asynq.RevokeTask)
	case errors.Is(err, otp.ErrGaveUp):
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}
