package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

// apiKey is one accepted key, the tenant it belongs to, and whether it
// may manage the fraud guard, which acts on every tenant.
type apiKey struct {
	key, tenant string
	fraudAdmin  bool
}

// tenantCtxKey holds the name of the tenant whose key authenticated the
// request (or whose callback URL the gateway signed).
const tenantCtxKey ctxKey = 1

// fraudAdminKey is the gin context key set for a key that may manage the
// fraud guard.
const fraudAdminKey = "otp.fraud_admin"

func withTenant(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, tenantCtxKey, name)
}

// errNoTenant is a request that reached a tenant's service without one:
// a route mounted outside requireAPIKey. It fails closed, as a 500.
var errNoTenant = errors.New("api: request without a tenant")

// tenants is the api's view of every tenant's service: each call goes to
// the service of the tenant that the request's key (or a callback's
// signed URL) names, and that service sees its tenant's verifications
// only. Another tenant's verification is, to it, one that does not exist.
type tenants struct {
	byName map[string]verifications
}

func (t tenants) of(ctx context.Context) (verifications, error) {
	name, _ := ctx.Value(tenantCtxKey).(string)
	if svc, ok := t.byName[name]; ok {
		return svc, nil
	}
	return nil, errNoTenant
}

func (t tenants) Start(ctx context.Context, r otp.StartRequest) (otp.Verification, bool, error) {
	svc, err := t.of(ctx)
	if err != nil {
		return otp.Verification{}, false, err
	}
	return svc.Start(ctx, r)
}

func (t tenants) Check(ctx context.Context, r otp.CheckRequest) (otp.Verification, bool, error) {
	svc, err := t.of(ctx)
	if err != nil {
		return otp.Verification{}, false, err
	}
	return svc.Check(ctx, r)
}

func (t tenants) Get(ctx context.Context, id string) (otp.Verification, error) {
	svc, err := t.of(ctx)
	if err != nil {
		return otp.Verification{}, err
	}
	return svc.Get(ctx, id)
}

func (t tenants) Cancel(ctx context.Context, id string) (otp.Verification, bool, error) {
	svc, err := t.of(ctx)
	if err != nil {
		return otp.Verification{}, false, err
	}
	return svc.Cancel(ctx, id)
}

// DeliveryReport goes to the tenant the callback URL names; one it does
// not know is about no verification we have.
func (t tenants) DeliveryReport(ctx context.Context, r otp.DeliveryReport) error {
	svc, err := t.of(ctx)
	if err != nil {
		return &otp.InputError{Detail: "unknown verification id"}
	}
	return svc.DeliveryReport(ctx, r)
}

// Ready asks the default tenant's service: every tenant shares its store.
func (t tenants) Ready(ctx context.Context) error {
	return t.byName[otp.DefaultTenant].Ready(ctx)
}

// requireFraudAdmin lets through the keys that may manage the fraud guard:
// the default tenant's, and those of tenants with fraud_admin. A block
// lifted or a number safe-listed acts for every tenant, so no app may do
// it unasked.
func requireFraudAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !c.GetBool(fraudAdminKey) {
			writeProblem(c, problem(http.StatusForbidden, "forbidden",
				"this API key's app may not manage the fraud guard (fraud_admin in TENANTS_FILE)"))
			return
		}
		c.Next()
	}
}
