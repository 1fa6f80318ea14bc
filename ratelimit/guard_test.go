package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/ratelimit"
	"github.com/otpd/otpd/redistest"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}

func client(t *testing.T) *redis.Client {
	c := redisServer.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

func reason(err error) (otp.LimitReason, time.Duration) {
	var le *otp.LimitError
	if errors.As(err, &le) {
		return le.Reason, le.RetryAfter
	}
	return "", 0
}

var scope = otp.SendScope{
	Origin: otp.Origin{ClientIP: "203.0.113.7", APIKeyID: "k1"},
	Region: "US", CallingCode: 1, Prefix: "+14155552",
}

// Every limit: under it passes, at it refuses with its name and a wait
// that is enough, and after that wait it passes again. Two Guards on two
// clients stand for two API processes sharing Redis.
func TestEachSendLimit(t *testing.T) {
	two := ratelimit.Rate{Count: 2, Period: 2 * time.Second}
	for _, tc := range []struct {
		name  string
		cfg   ratelimit.Config
		other func(otp.SendScope) otp.SendScope // a scope the limit does not share
		want  otp.LimitReason
	}{
		{"client ip", ratelimit.Config{ClientIPSends: []ratelimit.Rate{two}},
			func(s otp.SendScope) otp.SendScope { s.ClientIP = "198.51.100.1"; return s }, otp.LimitClientIP},
		{"api key", ratelimit.Config{APIKeySends: []ratelimit.Rate{two}},
			func(s otp.SendScope) otp.SendScope { s.APIKeyID = "k2"; return s }, otp.LimitAPIKey},
		{"prefix", ratelimit.Config{PrefixSends: []ratelimit.Rate{two}},
			func(s otp.SendScope) otp.SendScope { s.Prefix = "+14155553"; return s }, otp.LimitPrefix},
		{"country", ratelimit.Config{CountryBudgets: map[string]int{"US": 2, "*": 100}},
			func(s otp.SendScope) otp.SendScope { s.Region = "GB"; return s }, otp.LimitCountry},
		{"country default", ratelimit.Config{CountryBudgets: map[string]int{"*": 2}},
			nil, otp.LimitCountry},
		{"global", ratelimit.Config{BudgetPerMinute: 2}, nil, otp.LimitGlobal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client(t).FlushAll(ctx)
			a, b := ratelimit.New(client(t), tc.cfg), ratelimit.New(client(t), tc.cfg)
			if err := a.AllowSend(ctx, scope); err != nil {
				t.Fatal(err)
			}
			if err := b.AllowSend(ctx, scope); err != nil {
				t.Fatal(err)
			}
			err := a.AllowSend(ctx, scope)
			got, wait := reason(err)
			if got != tc.want || wait <= 0 {
				t.Fatalf("third send: %v", err)
			}
			if tc.other != nil {
				if err := b.AllowSend(ctx, tc.other(scope)); err != nil {
					t.Fatalf("a scope outside the limit was refused: %v", err)
				}
			}
			if tc.want == otp.LimitGlobal || tc.want == otp.LimitCountry {
				return // per-minute budgets: waiting out 30s is not worth a test run
			}
			time.Sleep(wait)
			if err := b.AllowSend(ctx, scope); err != nil {
				t.Fatalf("after Retry-After %v: %v", wait, err)
			}
		})
	}
}

func TestZeroCountryBudgetBlocks(t *testing.T) {
	g := ratelimit.New(client(t), ratelimit.Config{CountryBudgets: map[string]int{"US": 0}})
	if r, _ := reason(g.AllowSend(context.Background(), scope)); r != otp.LimitCountry {
		t.Fatal("a zero budget let a send through")
	}
}

// A client refused by its own limit must not spend the shared budgets.
func TestOwnLimitSparesSharedBudgets(t *testing.T) {
	ctx := context.Background()
	client(t).FlushAll(ctx)
	g := ratelimit.New(client(t), ratelimit.Config{
		ClientIPSends:   []ratelimit.Rate{{Count: 1, Period: time.Hour}},
		BudgetPerMinute: 3,
	})
	if err := g.AllowSend(ctx, scope); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // an abusive IP hammering
		if r, _ := reason(g.AllowSend(ctx, scope)); r != otp.LimitClientIP {
			t.Fatalf("try %d: %v", i, r)
		}
	}
	other := scope
	other.ClientIP = "198.51.100.1"
	for i := 0; i < 2; i++ { // the global budget still has 2 of 3
		o := other
		o.ClientIP = []string{"198.51.100.1", "198.51.100.2"}[i]
		if err := g.AllowSend(ctx, o); err != nil {
			t.Fatalf("other user %d: %v", i, err)
		}
	}
}

func TestClientIPFailedChecks(t *testing.T) {
	ctx := context.Background()
	client(t).FlushAll(ctx)
	g := ratelimit.New(client(t), ratelimit.Config{ClientIPChecks: []ratelimit.Rate{{Count: 3, Period: 3 * time.Second}}})
	o := scope.Origin
	// Checks cost nothing until they fail.
	for i := 0; i < 10; i++ {
		if err := g.AllowCheck(ctx, o); err != nil {
			t.Fatalf("check %d with no failures: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := g.CheckFailed(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	err := g.AllowCheck(ctx, o)
	r, wait := reason(err)
	if r != otp.LimitClientIP || wait != time.Second {
		t.Fatalf("after 3 failures: %v", err)
	}
	if err := g.AllowCheck(ctx, otp.Origin{ClientIP: "198.51.100.1"}); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	if err := g.AllowCheck(ctx, otp.Origin{}); err != nil {
		t.Fatalf("no IP given: %v", err)
	}
	time.Sleep(wait + 50*time.Millisecond)
	if err := g.AllowCheck(ctx, o); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestNoIPNoKeyNoLimit(t *testing.T) {
	ctx := context.Background()
	client(t).FlushAll(ctx)
	g := ratelimit.New(client(t), ratelimit.Config{
		ClientIPSends: []ratelimit.Rate{{Count: 1, Period: time.Hour}},
		APIKeySends:   []ratelimit.Rate{{Count: 1, Period: time.Hour}},
	})
	for i := 0; i < 5; i++ {
		if err := g.AllowSend(ctx, otp.SendScope{Region: "US", Prefix: "+1415555"}); err != nil {
			t.Fatal(err)
		}
	}
}
