package e2e

import (
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// The fraud guard through the real api and worker, at a small scale (a
// range is judged on 3 verifications, settled a second after their send):
// a range whose codes nobody enters is blocked, its sends are refused and
// nothing goes out; the block is listed and told to the customer's
// receiver, signed; a code sent before it still checks; it is lifted, and
// another one runs out by itself. Premium-rate numbers never get a code.
func TestFraudGuard(t *testing.T) {
	t.Parallel() // it waits; the others run meanwhile
	h := newHook(t)
	s := startStack(t, map[string]string{
		"FRAUD_MIN_SENDS": "3", "FRAUD_GRACE": "1s", "FRAUD_WINDOW": "1m", "FRAUD_BLOCK_TTL": "8s",
		"WEBHOOK_URL": h.URL, "WEBHOOK_SECRET": e2eWebhookSecret,
	})
	ctx := t.Context()
	const rangeA = "+14155557"

	if _, err := s.client.Start(ctx, client.StartRequest{To: "+19002345678"}); !refused(err, 403, client.CodeNumberTypeBlocked) {
		t.Fatalf("a premium-rate number: %v", err)
	}

	// Three codes sent, none entered: the range is blocked once they settle.
	var first client.Verification
	var firstCode string
	for i, to := range []string{rangeA + "001", rangeA + "002", rangeA + "003"} {
		sms := await(t, s, to, func() {
			v := s.start(t, client.StartRequest{To: to})
			if i == 0 {
				first = v
			}
		})
		if i == 0 {
			firstCode = twiliofake.CodeIn(sms.Form.Get("Body"))
		}
	}
	blockedTo, block := blockRange(t, s, rangeA)
	if block.Status != 403 || block.RetryAfter < 5*time.Second || block.RetryAfter > 8*time.Second {
		t.Fatalf("refusal %+v", block)
	}
	if _, err := s.client.Check(ctx, client.CheckRequest{To: blockedTo, Code: "000000"}); !refused(err, 404, client.CodeNotFound) {
		t.Fatalf("the refused send left a verification: %v", err)
	}
	if res, err := s.client.Check(ctx, client.CheckRequest{ID: first.ID, Code: firstCode}); err != nil || !res.Valid {
		t.Fatalf("a code sent before the block: %+v %v", res, err)
	}

	blocked := h.wait(t, "fraud.blocked", 1, 15*time.Second)[0]
	verifier, _ := standardwebhooks.NewWebhook(e2eWebhookSecret)
	if err := verifier.Verify(blocked.body, blocked.header); err != nil {
		t.Fatalf("fraud.blocked signature: %v", err)
	}
	if b := blocked.event.Data.Block; b["prefix"] != rangeA || b["settled"].(float64) < 3 || b["approved"] != 0.0 {
		t.Fatalf("fraud.blocked: %s", blocked.body)
	}
	blocks, err := s.client.FraudBlocks(ctx)
	if err != nil || len(blocks) != 1 || blocks[0].Prefix != rangeA || blocks[0].Shadow {
		t.Fatalf("blocks %+v %v", blocks, err)
	}

	if _, err := s.client.LiftFraudBlock(ctx, rangeA); err != nil {
		t.Fatal(err)
	}
	if lifted := h.wait(t, "fraud.unblocked", 1, 15*time.Second)[0]; lifted.event.Data.Reason != "lifted" {
		t.Fatalf("fraud.unblocked: %s", lifted.body)
	}
	await(t, s, rangeA+"099", func() { s.start(t, client.StartRequest{To: rangeA + "099"}) })

	// Blocked again; this time the block runs out by itself.
	blockRange(t, s, rangeA)
	ended := h.wait(t, "fraud.unblocked", 2, 30*time.Second)[1]
	if ended.event.Data.Reason != "expired" {
		t.Fatalf("fraud.unblocked: %s", ended.body)
	}
	if blocks, err := s.client.FraudBlocks(ctx); err != nil || len(blocks) != 0 {
		t.Fatalf("blocks after the end: %+v %v", blocks, err)
	}
	await(t, s, rangeA+"098", func() { s.start(t, client.StartRequest{To: rangeA + "098"}) })
}

// blockRange sends to new numbers of prefix, a few a second, until the
// guard refuses one (the range's verifications have settled), and returns
// that number and the refusal.
func blockRange(t *testing.T, s *stack, prefix string) (string, *client.Error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 100; time.Now().Before(deadline); i++ {
		to := prefix + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
		_, err := s.client.Start(t.Context(), client.StartRequest{To: to})
		if e := refusal(t, err); e != nil {
			if e.Code != client.CodeFraudBlocked {
				t.Fatalf("send to %s: %v", to, err)
			}
			return to, e
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s was never blocked", prefix)
	return "", nil
}
