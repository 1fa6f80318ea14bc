package redisstore_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/internal/app"
	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/otptest"
	"github.com/otpd/otpd/internal/testkit/redistest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// BenchmarkSignupScripts is Redis's side of one signup as the api and the
// worker make it, with the production configuration's limits and fraud
// guard and a client IP and API key on both requests: the send (limits,
// guard, start), the worker's claim and record of Twilio's answer, and the
// check with the right code (asynq's commands are not in it). One at a
// time, so that each script's SLOWLOG time is its own (make bench's
// per-script table is taken under load, where Redis waits for the cores).
// Reports Redis's CPU per signup (INFO, I/O included), the time it spent
// in scripts (commandstats), both without SLOWLOG, and each script's µs
// (SLOWLOG, over as many signups more; their sum is a little above the
// scripts' time, SLOWLOG's own cost):
// go test -run '^$' -bench SignupScripts -benchtime 3000x ./otp/redisstore
func BenchmarkSignupScripts(b *testing.B) {
	ctx := context.Background()
	cfg, err := config.Load(func(k string) string {
		// make bench's configuration (internal/tools/loadtest): the
		// production defaults, with limits that run but do not refuse.
		return map[string]string{"APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:1",
			"OTP_SECRET": otptest.Secret, "API_KEYS": "bench:" + strings.Repeat("k", 32),
			"TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN": "t",
			"TWILIO_PHONE_NUMBER": "+15005550006", "API_ADMIN_ADDR": "127.0.0.1:0", "ALLOWED_COUNTRIES": "US",
			"OTP_MAX_CHECKS": "100", "FAILED_CHECK_LIMIT": "100/24h", "TO_SEND_LIMIT": "1000/1h",
			"SMS_BUDGET_PER_MINUTE": "10000000", "OTP_BRAND": "Bench",
			"API_KEY_SEND_LIMITS": "10000000/1s", "PREFIX_SEND_LIMITS": "10000000/1m", "OTP_RESEND_COOLDOWN": "1s",
			"API_KEY_WRITE_LIMITS": "10000000/1s", "CLIENT_IP_SEND_LIMITS": "10000000/1m",
			"CLIENT_IP_CHECK_LIMITS": "10000000/1m",
			"FRAUD_MIN_SENDS":        "1000000", "FRAUD_COUNTRY_MIN_SENDS": "1000000000"}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	o := app.FromConfig(cfg, otptest.Logger(b))
	o.Clock = nil // the fixture's
	f := otptest.New(b, redisServer, o, otptest.RecordOnly)
	org := otp.Origin{ClientIP: "203.0.113.9", APIKeyID: "bench"}
	signup := func(i int) {
		to := "+1415" + strconv.Itoa(2000001+i)
		v, _, err := f.Svc.Start(ctx, otp.StartRequest{To: to, Origin: org})
		if err != nil {
			b.Fatal(err)
		}
		c, err := f.Store.Claim(ctx, v.ID, 1, time.Minute, f.Clock.Now().Add(-time.Minute))
		if err != nil || c.Outcome != otp.ClaimSend {
			b.Fatalf("claim: %+v %v", c, err)
		}
		if _, err := f.Store.Record(ctx, v.ID, 1, otp.AttemptUpdate{Status: otp.DeliverySending,
			MessageSID: "SM" + strings.Repeat("0123456789abcdef", 2)}); err != nil {
			b.Fatal(err)
		}
		code, err := f.Codec.Open(v.ID, c.Sealed)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := f.Svc.Check(ctx, otp.CheckRequest{To: to, Code: code, Origin: org}); err != nil || !ok {
			b.Fatalf("check: %v %v", ok, err)
		}
	}
	signup(-1) // the scripts loaded, the limits' keys made
	rdb := f.RDB.(*redis.Client)
	// Redis's CPU, round trips and script time first, without SLOWLOG:
	// logging every command (about 40 a signup, scripts' own included)
	// costs Redis a tenth more.
	cpu0, reads0 := redistest.CPU(ctx, rdb), redistest.Stat(b, rdb, "total_reads_processed")
	_, usec0 := redistest.CommandStats(ctx, rdb)
	b.ResetTimer()
	for i := range b.N {
		signup(i)
	}
	b.StopTimer()
	_, usec := redistest.CommandStats(ctx, rdb)
	// Less the INFO reads of ours that reads counts.
	cpu, reads := redistest.CPU(ctx, rdb)-cpu0, float64(redistest.Stat(b, rdb, "total_reads_processed")-reads0-4)
	// Then each script's share, from SLOWLOG, over as many signups more.
	entries, err := redistest.Logged(ctx, rdb, b.N*64+100, func() error {
		for i := range b.N {
			signup(b.N + i)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	names := redisstore.ScriptNames()
	us := map[string]float64{}
	for _, e := range entries {
		if len(e.Args) > 1 && strings.EqualFold(e.Args[0], "evalsha") {
			us[names[e.Args[1]]] += float64(e.Duration.Microseconds())
		}
	}
	keys := make([]string, 0, len(us))
	for k := range us {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.ReportMetric(us[k]/float64(b.N), k+"-µs/signup")
	}
	b.ReportMetric(float64(usec["evalsha"]-usec0["evalsha"])/float64(b.N), "scripts-µs/signup")
	b.ReportMetric(cpu*1e6/float64(b.N), "redis-cpu-µs/signup")
	b.ReportMetric(reads/float64(b.N), "round-trips/signup")
}
