package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// tenantFixture is the default tenant's service (a) and tenant b's, over
// one Redis, with the per-number protections that tenants share turned on.
func tenantFixture(t *testing.T, own redisstore.TenantLimits) (f *fixture, a, b *otp.Service) {
	t.Helper()
	p := testPolicy
	p.SendCap = otp.Window{Count: 3, Period: time.Hour}
	p.FailureLock = otp.Window{Count: 4, Period: time.Hour}
	pb := p
	pb.Tenant = "b"
	f = &fixture{otptest.New(t, redisServer, app.Options{Policy: p,
		Tenants: []app.Tenant{{Policy: pb, Limits: own}}})}
	return f, f.Svc, f.Tenants["b"]
}

// codeOf is the code of tenant's pending verification v.
func codeOf(t *testing.T, f *fixture, tenant string, v otp.Verification) string {
	t.Helper()
	sealed, err := f.Store.ForTenant(tenant, nil).SealedCode(context.Background(), v.ID)
	if err != nil || sealed == "" {
		t.Fatalf("sealed code of %s: %q %v", v.ID, sealed, err)
	}
	code, err := f.Codec.Open(v.ID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestTenantsSeeOnlyTheirOwnVerifications(t *testing.T) {
	f, a, b := tenantFixture(t, redisstore.TenantLimits{})
	ctx := context.Background()
	va, _, err := a.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	other := "+14155552672"
	vo, _, err := a.Start(ctx, otp.StartRequest{To: other})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"get":         func() error { _, err := b.Get(ctx, va.ID); return err },
		"cancel":      func() error { _, _, err := b.Cancel(ctx, va.ID); return err },
		"check by id": func() error { _, _, err := b.Check(ctx, otp.CheckRequest{ID: va.ID, Code: f.Code(t, va)}); return err },
		"check by to": func() error { _, _, err := b.Check(ctx, otp.CheckRequest{To: other, Code: f.Code(t, vo)}); return err },
		"report": func() error {
			return b.DeliveryReport(ctx, otp.DeliveryReport{ID: va.ID, Attempt: 1, Status: otp.DeliveryFailed})
		},
		"check wrong": func() error {
			_, _, err := b.Check(ctx, otp.CheckRequest{ID: va.ID, Code: otptest.Wrong(f.Code(t, va))})
			return err
		},
		"get archived": func() error { _, err := b.Get(ctx, vo.ID); return err },
	} {
		if err := call(); name != "report" && !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("tenant b's %s of a's verification: %v, want not found", name, err)
		}
	}
	// The owner's verification is untouched: still pending, no check spent,
	// its code still right.
	got, err := a.Get(ctx, va.ID)
	if err != nil || got.Status != otp.StatusPending || got.CheckAttempts != 0 || got.Delivery.Status != otp.DeliveryQueued {
		t.Fatalf("a's verification after b's tries: %+v %v", got, err)
	}
	if _, ok, err := a.Check(ctx, otp.CheckRequest{ID: va.ID, Code: f.Code(t, va)}); !ok || err != nil {
		t.Fatalf("a's right code after b's tries: %v %v", ok, err)
	}
}

func TestTenantsVerifyOneNumberIndependently(t *testing.T) {
	f, a, b := tenantFixture(t, redisstore.TenantLimits{})
	ctx := context.Background()
	va, created, err := a.Start(ctx, otp.StartRequest{To: num})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	// No cooldown across tenants: b's user is not a's resend.
	vb, created, err := b.Start(ctx, otp.StartRequest{To: num})
	if err != nil || !created || vb.ID == va.ID {
		t.Fatalf("b's start on a's number: %+v created=%v %v", vb, created, err)
	}
	if got, _ := b.Get(ctx, vb.ID); got.SendAttempts != 1 {
		t.Fatalf("b's verification: %+v", got)
	}
	// b's approval ends b's verification alone.
	if _, ok, err := b.Check(ctx, otp.CheckRequest{To: num, Code: codeOf(t, f, "b", vb)}); !ok || err != nil {
		t.Fatalf("b's check: %v %v", ok, err)
	}
	if got, _ := a.Get(ctx, va.ID); got.Status != otp.StatusPending {
		t.Fatalf("a's verification after b's approval: %s", got.Status)
	}
	if got, _ := b.Get(ctx, vb.ID); got.Status != otp.StatusApproved {
		t.Fatalf("b's verification: %s", got.Status)
	}
	if _, ok, err := a.Check(ctx, otp.CheckRequest{To: num, Code: f.Code(t, va)}); !ok || err != nil {
		t.Fatalf("a's check: %v %v", ok, err)
	}
}

func TestTenantsShareWhatGuardsThePhonesOwner(t *testing.T) {
	t.Run("sends per number", func(t *testing.T) {
		f, a, b := tenantFixture(t, redisstore.TenantLimits{})
		ctx := context.Background()
		for i, svc := range []*otp.Service{a, b, a} {
			if _, _, err := svc.Start(ctx, otp.StartRequest{To: num}); err != nil {
				t.Fatalf("send %d: %v", i+1, err)
			}
			f.Clock.Advance(time.Minute)
		}
		// TO_SEND_LIMIT is 3 an hour for the number, whoever asks.
		if _, _, err := b.Start(ctx, otp.StartRequest{To: num}); otptest.LimitReason(err) != otp.LimitToCap {
			t.Fatalf("fourth send, from b: %v, want the number's cap", err)
		}
	})
	t.Run("wrong codes lock the number", func(t *testing.T) {
		f, a, b := tenantFixture(t, redisstore.TenantLimits{})
		ctx := context.Background()
		va, _, _ := a.Start(ctx, otp.StartRequest{To: num})
		vb, _, _ := b.Start(ctx, otp.StartRequest{To: num})
		wrong := otptest.Wrong(codeOf(t, f, "b", vb))
		for range 2 {
			_, _, _ = b.Check(ctx, otp.CheckRequest{To: num, Code: wrong})
		}
		wa := otptest.Wrong(f.Code(t, va))
		for range 2 {
			_, _, _ = a.Check(ctx, otp.CheckRequest{To: num, Code: wa})
		}
		// Four wrong codes between them lock the number for both.
		for name, svc := range map[string]*otp.Service{"a": a, "b": b} {
			if _, _, err := svc.Start(ctx, otp.StartRequest{To: num}); otptest.LimitReason(err) != otp.LimitFailedChecks {
				t.Errorf("%s's send to the locked number: %v", name, err)
			}
		}
		if _, _, err := a.Check(ctx, otp.CheckRequest{ID: va.ID, Code: f.Code(t, va)}); otptest.LimitReason(err) != otp.LimitFailedChecks {
			t.Fatalf("a's right code on the locked number: %v", err)
		}
	})
}

func TestTenantOwnLimits(t *testing.T) {
	_, a, b := tenantFixture(t, redisstore.TenantLimits{Sends: []redisstore.Rate{{Count: 2, Period: time.Hour}}})
	ctx := context.Background()
	for _, to := range []string{"+14155552001", "+14155552002"} {
		if _, _, err := b.Start(ctx, otp.StartRequest{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Start(ctx, otp.StartRequest{To: "+14155552003"}); otptest.LimitReason(err) != otp.LimitTenant {
		t.Fatalf("b's third send: %v, want its own limit", err)
	}
	// The default tenant has no such limit.
	if _, _, err := a.Start(ctx, otp.StartRequest{To: "+14155552003"}); err != nil {
		t.Fatalf("a's send: %v", err)
	}
}

// A tenant's pending verification costs its own record and, with a send
// cap or a failure lock, the number hash that keeps the shared send log.
func BenchmarkTenantPendingVerificationMemory(b *testing.B) {
	ctx := context.Background()
	p := testPolicy
	p.SendCap = otp.Window{Count: 10, Period: 24 * time.Hour}
	p.FailureLock = otp.Window{Count: 100, Period: 24 * time.Hour}
	pb := p
	pb.Tenant = "merchant"
	f := &fixture{otptest.New(b, redisServer, app.Options{Policy: p, Tenants: []app.Tenant{{Policy: pb}}}, otptest.RecordOnly)}
	svc, store := f.Tenants["merchant"], f.Store.ForTenant("merchant", nil)
	var ids []string
	for i := range b.N {
		v, _, err := svc.Start(ctx, otp.StartRequest{To: "+1415" + strconv.Itoa(2000000+i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending,
			MessageSID: "SM" + strings.Repeat("0123456789abcdef", 2)}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	b.StopTimer()
	var total int64
	for _, id := range ids {
		tag, _ := otp.TagOfID(id)
		total += f.RDB.MemoryUsage(ctx, "otp:{"+tag+"}:t:merchant", 0).Val() + f.RDB.MemoryUsage(ctx, "otp:{"+tag+"}", 0).Val()
	}
	b.ReportMetric(float64(total)/float64(len(ids)), "B/verification")
}

// One tenant's right code does not reset the wrong codes typed at another:
// the count guards the number against guessing wherever it happens.
func TestTenantApprovalKeepsSharedFailures(t *testing.T) {
	f, a, b := tenantFixture(t, redisstore.TenantLimits{}) // 4 wrong codes lock the number
	ctx := context.Background()
	va, _, _ := a.Start(ctx, otp.StartRequest{To: num})
	vb, _, _ := b.Start(ctx, otp.StartRequest{To: num})
	wrong := otptest.Wrong(f.Code(t, va))
	for range 2 {
		_, _, _ = a.Check(ctx, otp.CheckRequest{ID: va.ID, Code: wrong})
	}
	if _, ok, err := b.Check(ctx, otp.CheckRequest{ID: vb.ID, Code: codeOf(t, f, "b", vb)}); !ok || err != nil {
		t.Fatalf("b's right code: %v %v", ok, err)
	}
	_, _, _ = a.Check(ctx, otp.CheckRequest{ID: va.ID, Code: wrong})
	f.Clock.Advance(time.Minute)
	vb2, _, err := b.Start(ctx, otp.StartRequest{To: num})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = b.Check(ctx, otp.CheckRequest{ID: vb2.ID, Code: otptest.Wrong(codeOf(t, f, "b", vb2))})
	// Four wrong codes in all, b's approval among them: the number is locked.
	if _, _, err := a.Start(ctx, otp.StartRequest{To: num}); otptest.LimitReason(err) != otp.LimitFailedChecks {
		t.Fatalf("after four wrong codes around b's approval: %v, want the number locked", err)
	}
}
