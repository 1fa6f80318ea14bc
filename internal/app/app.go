// Package app wires the service: Build makes the otp.Service and every
// part it works through from one Redis client, for the api, the worker
// and the tests alike, and FromConfig says how from the configuration.
package app

import (
	"context"
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/messages"
	"github.com/otpd/otpd/internal/metrics"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
	"github.com/otpd/otpd/tasks"
)

// Options say what to build.
type Options struct {
	Policy     otp.Policy
	Secret     []byte // OTP_SECRET
	CodeLength int
	Limits     redisstore.LimitConfig
	// IdempotencyKeys caps the Idempotency-Key answers one API key keeps
	// at once (API_KEY_IDEMPOTENCY_KEYS; 0: no cap).
	IdempotencyKeys int
	// Guard is the fraud guard's configuration (nil: FRAUD_GUARD=off).
	Guard *redisstore.GuardConfig
	// QueueShards spreads the send queues and the send limits over a Redis
	// Cluster (tasks.Shards); 0 is 1.
	QueueShards int
	// Events queues verification events for the customer's receiver
	// (WEBHOOK_URL is set).
	Events bool
	// Catalog writes the messages and picks their language; nil: the
	// built-in texts.
	Catalog *messages.Catalog
	// Metrics, when set, gets the service's collectors.
	Metrics prometheus.Registerer
	Log     *slog.Logger
	// Clock makes the store and the limits judge time by it instead of the
	// Redis server's clock, and the service measure durations by it instead
	// of this host's: tests move it to reach expiry without sleeping.
	Clock func() time.Time
	// The worker's: the gateway, and SMS_RATE_LIMIT (0: no cap).
	Sender       otp.Sender
	SMSRateLimit int
}

// Parts are the service and what it is built from.
type Parts struct {
	Service     *otp.Service
	Codec       *otp.Codec
	Store       *redisstore.Store
	Limits      *redisstore.Limits
	Guard       *redisstore.Guard // nil: FRAUD_GUARD=off
	Queue       *tasks.Queue
	Shards      tasks.Shards
	Asynq       *asynq.Client
	Idempotency *redisstore.Idempotency
	Events      *redisstore.EventIndex
	// Deps are what Service works through: a test may build another
	// service with one of them replaced.
	Deps otp.Deps
}

// Build wires the service on rdb. Close the parts' asynq client when done.
func Build(rdb redis.UniversalClient, o Options) (*Parts, error) {
	codec, err := otp.NewCodec(o.Secret, o.CodeLength, rand.Reader)
	if err != nil {
		return nil, err
	}
	if o.Catalog == nil {
		if o.Catalog, err = messages.New(messages.Options{}); err != nil {
			return nil, err
		}
	}
	p := &Parts{Codec: codec, Shards: tasks.NewShards(o.QueueShards), Asynq: asynq.NewClientFromRedisClient(rdb),
		Events: redisstore.NewEventIndex(rdb)}
	p.Idempotency = redisstore.NewIdempotency(rdb).WithCap(o.IdempotencyKeys).WithParts(p.Shards.Names())
	p.Limits = redisstore.NewLimits(rdb, o.Limits).WithParts(p.Shards.Names(), p.Shards.IndexOfTag)
	p.Store = redisstore.New(rdb, p.Limits, o.Log)
	if o.Guard != nil {
		p.Guard = redisstore.NewGuard(rdb, *o.Guard, o.Log).WithParts(p.Shards.Names())
		p.Limits.WithGuard(p.Guard)
	}
	if o.Clock != nil {
		p.Store.WithClock(o.Clock)
		p.Limits.WithClock(o.Clock)
		p.Idempotency.WithClock(o.Clock)
		if p.Guard != nil {
			p.Guard.WithClock(o.Clock)
		}
	}
	p.Queue = tasks.NewQueue(p.Asynq, p.Shards)
	d := otp.Deps{Codec: codec, Store: p.Store, Queue: p.Queue, Limiter: p.Limits, Locales: o.Catalog,
		Texts: texts{o.Catalog}, Sender: o.Sender, Now: o.Clock, Log: o.Log}
	if p.Guard != nil {
		d.Fraud = p.Guard
	}
	if t := redisstore.NewThrottle(rdb, o.SMSRateLimit); t != nil {
		d.Throttle = t
	}
	if o.Events {
		d.Events = tasks.NewWebhooks(p.Queue, p.Events)
	}
	if o.Metrics != nil {
		d.Observer = metrics.NewOTP(o.Metrics)
		if o.Sender != nil {
			d.Delivered = metrics.NewSMS(o.Metrics)
		}
	}
	p.Deps, p.Service = d, otp.NewService(o.Policy, d)
	return p, nil
}

// GuardFlushEvery is how often a process writes what the fraud guard
// learned after its sends' and checks' round trips (Guard.Run).
const GuardFlushEvery = 100 * time.Millisecond

// RunGuard writes the fraud guard's late counts in the background until
// ctx ends, then once more; wait returns once that last write is done.
func (p *Parts) RunGuard(ctx context.Context) (wait func()) {
	if p.Guard == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Guard.Run(ctx, GuardFlushEvery)
	}()
	return func() { <-done }
}

// texts writes the service's messages with the catalog.
type texts struct{ c *messages.Catalog }

func (t texts) Write(p otp.TextParams) otp.Text {
	r := t.c.Render(messages.Params{Locale: p.Locale, Channel: p.Channel, Brand: p.Brand, Code: p.Code, AppHash: p.AppHash})
	return otp.Text{Body: r.Text, Language: r.Language, Voice: r.Voice}
}
