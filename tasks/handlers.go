package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/otpd/otpd/internal/stack"
	"github.com/otpd/otpd/otp"
)

// Service is what the worker's tasks ask of otp.Service.
type Service interface {
	Deliver(ctx context.Context, r otp.DeliveryRequest) error
	StepTimedOut(ctx context.Context, id string, step int) error
	Expired(ctx context.Context, id string) (bool, error)
	FraudBlockEnded(ctx context.Context, name string, until time.Time) error
	Revoke(ctx context.Context, channel, messageSID string) error
}

// Tenants finds the service of a tenant by name ("" the default tenant's);
// ok is false for a tenant this worker does not know.
type Tenants func(name string) (svc Service, ok bool)

// NewMux routes the tasks of one service, the default tenant's.
func NewMux(svc Service) *asynq.ServeMux {
	return NewTenantMux(func(name string) (Service, bool) { return svc, name == "" })
}

// NewTenantMux routes each task type of the send queues to its handler,
// and each task to its tenant's service: the deliveries (under both their
// names), the workflow steps' timeouts and the expired events; the fraud
// blocks' ends, which belong to no tenant, to the default one.
func NewTenantMux(tenants Tenants) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	deliver := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error { return deliverTask(ctx, tenants, t) })
	mux.Handle(TypeDeliver, deliver)
	mux.Handle(typeSendSMS, deliver)
	mux.HandleFunc(TypeStepTimeout, func(ctx context.Context, t *asynq.Task) error { return stepTask(ctx, tenants, t) })
	mux.HandleFunc(TypeExpire, func(ctx context.Context, t *asynq.Task) error { return expireTask(ctx, tenants, t) })
	mux.HandleFunc(TypeBlockEnd, func(ctx context.Context, t *asynq.Task) error { return blockEndTask(ctx, tenants, t) })
	mux.HandleFunc(TypeRevoke, func(ctx context.Context, t *asynq.Task) error { return revokeTask(ctx, tenants, t) })
	return mux
}

// tenant is the service of a task's tenant. A tenant this worker does not
// know (removed from TENANTS_FILE, or a worker behind the api's file) is
// an error that a retry may cure: the tasks of a rolling deploy wait for
// the worker that knows it rather than vanish.
func tenant(tenants Tenants, name string) (Service, error) {
	if svc, ok := tenants(name); ok {
		return svc, nil
	}
	return nil, fmt.Errorf("tasks: tenant %q is not configured on this worker (TENANTS_FILE)", name)
}

// deliverTask hands one send attempt to the service, with what asynq
// knows of its retries.
func deliverTask(ctx context.Context, tenants Tenants, t *asynq.Task) error {
	stack.Grow(len(t.Payload()))
	p, err := ParseDeliveryPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	svc, err := tenant(tenants, p.Tenant)
	if err != nil {
		return err
	}
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	r := otp.DeliveryRequest{
		ID: p.ID, Attempt: p.Attempt, Retried: retried, LastTry: ok1 && ok2 && retried >= maxRetry,
		RetryIn: minRetryDelay,
	}
	if p.Orphaned > 0 {
		r.OrphanedAt = time.UnixMilli(p.Orphaned)
	}
	return classify(svc.Deliver(ctx, r))
}

// stepTask runs a step's timeout: the workflow moves on unless it moved
// already or the verification ended, which the service checks.
func stepTask(ctx context.Context, tenants Tenants, t *asynq.Task) error {
	p, err := ParseStepPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	svc, err := tenant(tenants, p.Tenant)
	if err != nil {
		return err
	}
	if err := svc.StepTimedOut(ctx, p.ID, p.Step); err != nil && !errors.Is(err, otp.ErrNotFound) {
		return err
	}
	return nil
}

// expireTask emits a verification's expired event at its expiry.
func expireTask(ctx context.Context, tenants Tenants, t *asynq.Task) error {
	var p expirePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || !validTenant(p.Tenant) {
		return fmt.Errorf("tasks: bad payload: %w", asynq.SkipRetry)
	}
	svc, err := tenant(tenants, p.Tenant)
	if err != nil {
		return err
	}
	done, err := svc.Expired(ctx, p.ID)
	switch {
	case errors.Is(err, otp.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !done:
		// This host's clock ran ahead of the store's: ask again shortly.
		return &otp.WaitError{Wait: time.Second, Why: "not expired yet"}
	}
	return nil
}

// blockEndTask reports a fraud block's end, once its time is up by the
// store's clock.
func blockEndTask(ctx context.Context, tenants Tenants, t *asynq.Task) error {
	p, err := ParseBlockEndPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	svc, err := tenant(tenants, "")
	if err != nil {
		return err
	}
	err = svc.FraudBlockEnded(ctx, p.Name, time.UnixMilli(p.Until))
	if errors.Is(err, otp.ErrFraudBlockNotOver) {
		// This host's clock ran ahead of the store's: ask again shortly.
		return &otp.WaitError{Wait: time.Second, Why: "block not over yet"}
	}
	return err
}

// revokeTask takes back a message: the gateway's, which serves every
// tenant alike. A message already read or expired is the gateway's to
// refuse; a few retries, then it is left.
func revokeTask(ctx context.Context, tenants Tenants, t *asynq.Task) error {
	var p RevokePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || !otp.KnownChannel(p.Channel) || p.SID == "" || len(p.SID) > 128 {
		return fmt.Errorf("tasks: bad revoke payload: %w", asynq.SkipRetry)
	}
	svc, err := tenant(tenants, "")
	if err != nil {
		return err
	}
	return classify(svc.Revoke(ctx, p.Channel, p.SID))
}
