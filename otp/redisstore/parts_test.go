package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/clocktest"
	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/otp/redisstore"
)

// With the limits split into parts (QUEUE_SHARDS), a send counts against
// its number's part, each part allowing the limit divided by the parts
// (rounded up), under the part's hash tag; the per-IP limits stay whole in
// the IP's slot; and a refusal by either spends nothing from the other.
func TestLimitsInParts(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	tags := []string{"otp-0", "otp-7", "otp-9"}
	partOf := func(tag string) int { return int(tag[0]-'0') % 3 } // the test's tags say their part
	g := redisstore.NewLimits(rdb, redisstore.LimitConfig{
		ClientIPSends:   []redisstore.Rate{{Count: 4, Period: time.Minute}},
		BudgetPerMinute: 7, // 3 per part
	}).WithClock(clocktest.Start().Now).WithParts(tags, partOf)
	send := func(part int, ip string) error {
		s := otp.SendScope{Origin: otp.Origin{ClientIP: ip, APIKeyID: "k1"}, Tag: string(rune('0'+part)) + "abc",
			Region: "US", CallingCode: 1, Prefix: "+14155552"}
		return allow(ctx, g, s)
	}
	for i := range 3 {
		if err := send(0, "203.0.113.1"); err != nil {
			t.Fatalf("send %d in part 0: %v", i+1, err)
		}
	}
	if r, _ := reason(send(0, "203.0.113.2")); r != otp.LimitGlobal {
		t.Fatalf("the 4th send in part 0: %q, want its part of the global budget", r)
	}
	// The IP limit is whole: its 4th send passes (part 1), its 5th is
	// refused wherever it lands, and that refusal takes nothing from part 2.
	if err := send(1, "203.0.113.1"); err != nil {
		t.Fatalf("the IP's 4th send, in part 1: %v", err)
	}
	if r, _ := reason(send(2, "203.0.113.1")); r != otp.LimitClientIP {
		t.Fatalf("the IP's 5th send: %q, want client_ip", r)
	}
	for i := range 3 {
		if err := send(2, "203.0.113.3"); err != nil {
			t.Fatalf("send %d in part 2 after the IP's refusal: %v", i+1, err)
		}
	}
	keys := rdb.Keys(ctx, "lim:*").Val()
	for _, k := range keys {
		if !strings.HasPrefix(k, "lim:{otp-0}:") && !strings.HasPrefix(k, "lim:{otp-7}:") &&
			!strings.HasPrefix(k, "lim:{otp-9}:") && !strings.HasPrefix(k, "lim:{otp:ip:") {
			t.Errorf("key %s is in neither a part's slot nor an IP's", k)
		}
	}
	if len(keys) < 4 {
		t.Fatalf("keys %v", keys)
	}
	// Without parts, the same configuration is one budget of 7.
	rdb.FlushAll(ctx)
	whole := redisstore.NewLimits(rdb, redisstore.LimitConfig{BudgetPerMinute: 7}).WithClock(clocktest.Start().Now)
	for i := range 7 {
		if err := allow(ctx, whole, otp.SendScope{Tag: "0abc", Region: "US", Prefix: "+1415"}); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	if r, _ := reason(allow(ctx, whole, otp.SendScope{Tag: "0abc", Region: "US", Prefix: "+1415"})); r != otp.LimitGlobal {
		t.Fatalf("the 8th send: %q", r)
	}
}

// The load test's per-script table names scripts by their SHA1: each of
// ours must have its own (two scripts of one text would share a name).
func TestScriptNamesAreDistinct(t *testing.T) {
	names := redisstore.ScriptNames()
	seen := map[string]bool{}
	for sha, n := range names {
		if len(sha) != 40 || seen[n] {
			t.Errorf("script %q: sha %q, or named twice", n, sha)
		}
		seen[n] = true
	}
	for _, n := range []string{"start", "guard", "take", "claim", "report", "checklimits", "check", "adjust"} {
		if !seen[n] {
			t.Errorf("no script named %q", n)
		}
	}
	if len(names) != 19 {
		t.Errorf("%d scripts named, want 19 (a script that shares another's text?)", len(names))
	}
}
