package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

type obj = map[string]any

const merchantKey = "merchant-key-0123456789abcdef"

var merchantSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("merchant-webhook-secret-0123456789"))

// tenantStack runs api and worker with a second tenant, merchant, beside
// the environment's: each with its own brand and its own event receiver.
func tenantStack(t *testing.T, own, merchant *hook) *stack {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tenants.yaml")
	yaml := fmt.Sprintf(`tenants:
  - name: merchant
    api_keys: [%q]
    brand: Merchant Co
    webhook_url: %q
    webhook_secret: %q
`, merchantKey, merchant.URL, merchantSecret)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startStack(t, map[string]string{"TENANTS_FILE": file, "PUBLIC_URL": "",
		"WEBHOOK_URL": own.URL, "WEBHOOK_SECRET": e2eWebhookSecret})
}

// as calls the api with key; it ends the test on a transport error.
func (s *stack) as(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := s.Call(http.DefaultClient, key, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

// smsTo waits for the accepted SMS to number to whose text has brand.
func smsTo(t *testing.T, fake *twiliofake.Server, to, brand string) twiliofake.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range fake.Messages() {
			if m.Form.Get("To") == to && strings.Contains(m.Form.Get("Body"), brand) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no SMS to %s from %s", to, brand)
	return twiliofake.Request{}
}

func TestTenantsAreWalledOff(t *testing.T) {
	own, theirs := newHook(t), newHook(t)
	s := tenantStack(t, own, theirs)
	const shared, onlyOurs = "+14155552671", "+14155552672"

	// The same number, verified by both tenants at once.
	_, ours := s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": shared})
	status, mine := s.as(t, merchantKey, "POST", "/v1/verifications", obj{"to": shared})
	if status != 202 || mine["id"] == ours["id"] {
		t.Fatalf("merchant's start on the shared number: %d %v", status, mine)
	}
	_, other := s.as(t, apiKey, "POST", "/v1/verifications", obj{"to": onlyOurs})
	ourCode := twiliofake.CodeIn(smsTo(t, s.Fake, shared, "Acme").Form.Get("Body"))
	theirSMS := smsTo(t, s.Fake, shared, "Merchant Co")
	otherCode := twiliofake.CodeIn(smsTo(t, s.Fake, onlyOurs, "Acme").Form.Get("Body"))

	// To the merchant's key, our verifications do not exist: every route
	// answers as for an id or number nobody ever used, and spends nothing.
	unknown := "VE00000000000000000000000000000000"
	for _, c := range []struct {
		name, method, path, unknownPath string
		body, unknownBody               any
	}{
		{"get", "GET", "/v1/verifications/" + ours["id"].(string), "/v1/verifications/" + unknown, nil, nil},
		{"cancel", "POST", "/v1/verifications/" + other["id"].(string) + "/cancel", "/v1/verifications/" + unknown + "/cancel", nil, nil},
		{"check by id", "POST", "/v1/verifications/check", "/v1/verifications/check",
			obj{"id": other["id"], "code": otherCode}, obj{"id": unknown, "code": otherCode}},
		{"check by number", "POST", "/v1/verifications/check", "/v1/verifications/check",
			obj{"to": onlyOurs, "code": otherCode}, obj{"to": "+14155550100", "code": otherCode}},
		{"legacy check", "POST", "/verify-code", "/verify-code",
			obj{"phoneNumber": onlyOurs, "smsCode": otherCode}, obj{"phoneNumber": "+14155550100", "smsCode": otherCode}},
	} {
		st, got := s.as(t, merchantKey, c.method, c.path, c.body)
		wantSt, want := s.as(t, merchantKey, c.method, c.unknownPath, c.unknownBody)
		if st != wantSt || fmt.Sprint(got) != fmt.Sprint(want) || st < 400 {
			t.Errorf("merchant's %s of our verification: %d %v; of an unknown one: %d %v", c.name, st, got, wantSt, want)
		}
	}
	// A "resend" from the merchant is a verification of its own.
	_, resent := s.as(t, merchantKey, "POST", "/v1/verifications", obj{"to": onlyOurs})
	if resent["id"] == other["id"] || resent["sendAttempts"] != float64(1) {
		t.Fatalf("merchant's send to our number: %v", resent)
	}
	_, got := s.as(t, apiKey, "GET", "/v1/verifications/"+other["id"].(string), nil)
	if got["status"] != "pending" || got["checkAttempts"] != float64(0) || got["sendAttempts"] != float64(1) {
		t.Fatalf("our verification after the merchant's tries: %v", got)
	}

	// Each tenant's code approves its own verification only.
	if _, res := s.as(t, merchantKey, "POST", "/v1/verifications/check", obj{"to": shared, "code": ourCode}); res["valid"] == true && ourCode != twiliofake.CodeIn(theirSMS.Form.Get("Body")) {
		t.Fatalf("our code approved the merchant's verification: %v", res)
	}
	if _, res := s.as(t, apiKey, "POST", "/v1/verifications/check", obj{"to": shared, "code": ourCode}); res["valid"] != true {
		t.Fatalf("our check: %v", res)
	}
	theirCode := twiliofake.CodeIn(theirSMS.Form.Get("Body"))
	if _, res := s.as(t, merchantKey, "POST", "/v1/verifications/check", obj{"id": mine["id"], "code": theirCode}); res["valid"] != true {
		t.Fatalf("merchant's check: %v", res)
	}

	// The merchant's status callback reaches the merchant's verification.
	if code, err := s.Fake.StatusCallback(context.Background(), theirSMS, "delivered", 0); err != nil || code != 204 {
		t.Fatalf("merchant's status callback: %d %v", code, err)
	}
	_, v := s.as(t, merchantKey, "GET", "/v1/verifications/"+mine["id"].(string), nil)
	if d, _ := v["delivery"].(map[string]any); d["status"] != "delivered" {
		t.Fatalf("merchant's delivery after its callback: %v", v["delivery"])
	}

	// Events go to the owner's receiver, signed with the owner's secret.
	checkEvents(t, own, e2eWebhookSecret, ours["id"].(string), mine["id"].(string))
	checkEvents(t, theirs, merchantSecret, mine["id"].(string), ours["id"].(string))

	// The fraud guard acts for every tenant: only the operator's keys manage it.
	if st, res := s.as(t, merchantKey, "GET", "/v1/fraud/blocks", nil); st != 403 || res["code"] != "forbidden" {
		t.Fatalf("merchant's GET /v1/fraud/blocks: %d %v", st, res)
	}
}

// checkEvents waits for the approval of verification id at h, checks its
// signature with secret, and that h got nothing about notID.
func checkEvents(t *testing.T, h *hook, secret, id, notID string) {
	t.Helper()
	got := h.wait(t, "verification.approved", 1, 10*time.Second)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Fatalf("event signature: %v", err)
	}
	if got[0].event.Data.Verification["id"] != id {
		t.Fatalf("approval of %v, want %s", got[0].event.Data.Verification["id"], id)
	}
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.got {
		if strings.Contains(string(r.body), notID) {
			t.Fatalf("a receiver got another tenant's event: %s", r.body)
		}
	}
}
