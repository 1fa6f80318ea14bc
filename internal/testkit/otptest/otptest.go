// Package otptest builds the service as the binaries build it (app.Build)
// over a test's own throw-away Redis, on a settable clock, so that the
// tests of otp, otp/redisstore, tasks and cmd/api start from one fixture.
package otptest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/redisconn"
	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/otp"
)

// Secret is the fixtures' OTP_SECRET.
const Secret = "otptest-secret-otptest-secret-otptest-01"

// Policy keeps the limits small, so that every limit is reached in a few
// requests; the clock, not sleeping, moves past cooldowns and expiry.
var Policy = otp.Policy{
	TTL: 10 * time.Minute, Retention: 24 * time.Hour, Cooldown: 30 * time.Second,
	MaxSends: 3, MaxChecks: 3, DefaultRegion: "US",
}

// Fixture is the service and its parts over a flushed Redis.
type Fixture struct {
	*app.Parts
	// Svc is the service, which enqueues through Queue.
	Svc    *otp.Service
	Queue  *Queue
	RDB    redis.UniversalClient
	Clock  *clocktest.Clock
	Policy otp.Policy
}

// Option changes a fixture.
type Option func(*Fixture)

// RecordOnly has the service's jobs recorded in Fixture.Queue and not
// queued in asynq: Redis then holds the store's keys alone.
func RecordOnly(f *Fixture) { f.Queue.Next = nil; f.Svc = f.With(f.Policy, nil) }

// New builds the service of o (its zero Policy is Policy; its Secret,
// CodeLength, Clock and Log have test defaults) on rs, flushed first.
func New(t testing.TB, rs *redistest.Server, o app.Options, opts ...Option) *Fixture {
	t.Helper()
	// The production client: its timeouts, and no command sent twice.
	rdb, err := redisconn.New(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	f := &Fixture{RDB: rdb, Clock: clocktest.Start(), Queue: &Queue{}}
	f.Rebuild(t, o)
	for _, opt := range opts {
		opt(f)
	}
	return f
}

// Rebuild builds the fixture's service anew from o, with what Redis holds
// kept: a test adds limits or counters to a fixture it has used.
func (f *Fixture) Rebuild(t testing.TB, o app.Options) {
	t.Helper()
	if o.Policy.TTL == 0 {
		o.Policy = Policy
	}
	if o.Secret == nil {
		o.Secret = []byte(Secret)
	}
	if o.CodeLength == 0 {
		o.CodeLength = 6
	}
	if o.Clock == nil {
		o.Clock = f.Clock.Now
	}
	if o.Log == nil {
		o.Log = Logger(t)
	}
	parts, err := app.Build(f.RDB, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parts.Asynq.Close() })
	recording := f.Queue.Next == nil && f.Parts != nil
	f.Parts, f.Policy = parts, o.Policy
	if !recording {
		f.Queue.Next = parts.Queue
	}
	f.Svc = f.With(o.Policy, nil)
}

// With is the fixture's service with policy, and the ports change
// replaces: a failing queue, a recorder of events.
func (f *Fixture) With(policy otp.Policy, change func(*otp.Deps)) *otp.Service {
	d := f.Deps
	d.Queue = f.Queue
	if change != nil {
		change(&d)
	}
	return otp.NewService(policy, d)
}

// Code is the code of pending verification v, opened from its sealed
// form as the worker opens it.
func (f *Fixture) Code(t testing.TB, v otp.Verification) string {
	t.Helper()
	sealed, err := f.Store.SealedCode(context.Background(), v.ID)
	if err != nil || sealed == "" {
		t.Fatalf("sealed code of %s: %q %v", v.ID, sealed, err)
	}
	code, err := f.Codec.Open(v.ID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// Logger sends log lines from warnings up to the test's own output, shown
// only for failing tests or with -v.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Wrong is a code that is not code.
func Wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// LimitReason is the limit that refused with err ("" when none did).
func LimitReason(err error) otp.LimitReason {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.Reason
	}
	return ""
}

// Finished is the status of the verification err says has ended ("" when
// err says no such thing).
func Finished(err error) otp.Status {
	var fe *otp.FinishedError
	if errors.As(err, &fe) {
		return fe.Status
	}
	return ""
}

// RetryAfter is when the limit that refused with err says to come back
// (-1 when no limit refused).
func RetryAfter(err error) time.Duration {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.RetryAfter
	}
	return -1
}
