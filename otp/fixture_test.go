package otp_test

import (
	"testing"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
)

const num = "+14155552671"

var testPolicy = otptest.Policy

// fixture is the service over this package's Redis, its jobs recorded.
type fixture struct{ *otptest.Fixture }

// fixtureWith is newFixture with mod applied to its policy.
func fixtureWith(t *testing.T, mod func(*otp.Policy)) *fixture {
	t.Helper()
	p := testPolicy
	if mod != nil {
		mod(&p)
	}
	return &fixture{otptest.New(t, redisServer, app.Options{Policy: p}, otptest.RecordOnly)}
}
