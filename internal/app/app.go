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
	// MinReplicas has a start wait until that many Redis replicas have its
	// writes, MinReplicasTimeout at most (REDIS_MIN_REPLICAS; 0: no wait).
	MinReplicas        int
	MinReplicasTimeout time.Duration
	// Events queues verification events for the customer's receiver
	// (WEBHOOK_URL is set).
	Events bool
	// Backlog bounds the events waiting for delivery (Parts.RunBacklog).
	Backlog tasks.BacklogConfig
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
	// Tenants are the apps of TENANTS_FILE, beside the default one that
	// Policy, Catalog and Events describe.
	Tenants []Tenant
}

// Tenant is one app of TENANTS_FILE, as Build takes it.
type Tenant struct {
	// Policy is the default tenant's with the tenant's own choices in it,
	// and Policy.Tenant its name.
	Policy otp.Policy
	Limits redisstore.TenantLimits
	// Catalog is its texts (nil: the default tenant's).
	Catalog *messages.Catalog
	// Events: it has a receiver of its own.
	Events bool
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
	// Backlog keeps the events waiting for delivery within Options.Backlog,
	// and WebhookMetrics counts what becomes of them (nil without
	// Options.Metrics).
	Backlog        *tasks.Backlog
	WebhookMetrics tasks.WebhookObserver
	// Deps are what Service works through: a test may build another
	// service with one of them replaced.
	Deps otp.Deps
	// Tenants are every tenant's service by name, the default tenant's
	// (Service) under otp.DefaultTenant.
	Tenants map[string]*otp.Service
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
	if r, ok := o.Sender.(otp.Revoker); ok {
		d.Revoker = r
	}
	if p.Guard != nil {
		d.Fraud = p.Guard
	}
	if t := redisstore.NewThrottle(rdb, o.SMSRateLimit); t != nil {
		d.Throttle = t
	}
	if d.Replication, err = replication(rdb, o); err != nil {
		return nil, err
	}
	var operator *tasks.Webhooks
	if o.Events {
		operator = tasks.NewWebhooks(p.Queue, p.Events)
		d.Events = operator
	}
	var otpMetrics *metrics.OTP
	var smsMetrics *metrics.SMS
	if o.Metrics != nil {
		otpMetrics = metrics.NewOTP(o.Metrics)
		d.Observer = otpMetrics
		if o.Sender != nil {
			smsMetrics = metrics.NewSMS(o.Metrics)
			d.Delivered = smsMetrics
		}
		p.WebhookMetrics = metrics.NewWebhooks(o.Metrics)
		o.Backlog.Observer = p.WebhookMetrics
	}
	now := time.Now
	if o.Clock != nil {
		now = o.Clock
	}
	p.Backlog = tasks.NewBacklog(o.Backlog, p.Events, asynq.NewInspectorFromRedisClient(rdb), now, o.Log)
	p.Deps, p.Service = d, otp.NewService(o.Policy, d)
	p.Tenants = map[string]*otp.Service{otp.DefaultTenant: p.Service}
	for _, t := range o.Tenants {
		td := p.tenantDeps(t, d, operator, o.Log)
		if otpMetrics != nil {
			td.Observer = otpMetrics.ForTenant(t.Policy.Tenant)
		}
		if smsMetrics != nil {
			td.Delivered = smsMetrics.ForTenant(t.Policy.Tenant)
		}
		p.Tenants[t.Policy.Tenant] = otp.NewService(t.Policy, td)
	}
	return p, nil
}

// replication is the wait for REDIS_MIN_REPLICAS replicas (nil: none),
// counted on o.Metrics.
func replication(rdb redis.UniversalClient, o Options) (otp.Replication, error) {
	if o.MinReplicas <= 0 {
		return nil, nil
	}
	r, err := redisstore.NewReplication(rdb, o.MinReplicas, o.MinReplicasTimeout)
	if err != nil {
		return nil, err
	}
	if o.Metrics != nil {
		r.WithObserver(metrics.NewReplication(o.Metrics))
	}
	return r, nil
}

// tenantDeps are what one tenant's service works through: the default
// tenant's, but with a store, limits, queue and events that keep to its
// own verifications, and its own texts. The fraud guard, the gateway and
// its rate stay shared: they guard and serve every tenant at once.
func (p *Parts) tenantDeps(t Tenant, d otp.Deps, operator *tasks.Webhooks, log *slog.Logger) otp.Deps {
	name := t.Policy.Tenant
	limits := p.Limits.ForTenant(name, t.Limits)
	q := p.Queue.ForTenant(name)
	d.Store, d.Limiter, d.Queue = p.Store.ForTenant(name, limits), limits, q
	ev := tenantEvents{}
	if operator != nil {
		ev.operator = operator
	}
	if t.Events {
		ev.own = tasks.NewWebhooks(q, p.Events).ForTenant(name, q)
	}
	d.Events = ev
	if t.Catalog != nil {
		d.Locales, d.Texts = t.Catalog, texts{t.Catalog}
	}
	if log != nil {
		d.Log = log.With("tenant", name)
	}
	return d
}

// tenantEvents sends a tenant's verification events to its own receiver
// (none: dropped), and the fraud guard's, which concern the whole
// deployment, to the operator's (WEBHOOK_URL).
type tenantEvents struct{ own, operator otp.Events }

func (e tenantEvents) Emit(ctx context.Context, ev otp.Event) error {
	to := e.own
	if ev.Block != nil {
		to = e.operator
	}
	if to == nil {
		return nil
	}
	return to.Emit(ctx, ev)
}

func (e tenantEvents) ScheduleExpiry(ctx context.Context, id string, in time.Duration) error {
	if e.own == nil {
		return nil
	}
	return e.own.ScheduleExpiry(ctx, id, in)
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

// BacklogTrimEvery is how often a process trims the events waiting for
// delivery (Backlog.Run): between two passes, the bound may be passed by
// the events of that much time.
const BacklogTrimEvery = 5 * time.Second

// RunBacklog keeps the events waiting for delivery within Options.Backlog
// in the background until ctx ends; wait returns once the last pass is
// done. The api and the worker both run it: the bound holds whichever of
// them queues events, and whether or not a worker delivers them.
func (p *Parts) RunBacklog(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Backlog.Run(ctx, BacklogTrimEvery)
	}()
	return func() { <-done }
}

// texts writes the service's messages with the catalog.
type texts struct{ c *messages.Catalog }

func (t texts) Write(p otp.TextParams) otp.Text {
	r := t.c.Render(messages.Params{Locale: p.Locale, Channel: p.Channel, Brand: p.Brand, Code: p.Code, AppHash: p.AppHash})
	return otp.Text{Body: r.Text, Language: r.Language, Voice: r.Voice}
}
