package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/proctest"
)

// Limits live in Redis, so two API processes enforce one budget.
func TestLimitsAcrossTwoAPIs(t *testing.T) {
	s := startStack(t, map[string]string{
		"CLIENT_IP_SEND_LIMITS": "3/1m", "PREFIX_SEND_LIMITS": "off", "API_KEY_SEND_LIMITS": "off",
	})
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	addr := proctest.FreeAddr(t)
	env["HTTP_ADDR"] = addr
	start(t, "api", env)
	second := &stack{base: "http://" + addr}
	waitHealthy(t, second.base)

	apis := []*stack{s, second}
	for i := 0; i < 3; i++ {
		to := "+1415555010" + string(rune('0'+i))
		if code, body := apis[i%2].call(t, "POST", "/v1/verifications", map[string]string{"to": to, "clientIp": "203.0.113.50"}); code != 202 {
			t.Fatalf("send %d via api %d: %d %v", i, i%2, code, body)
		}
	}
	for i, api := range apis {
		code, body := api.call(t, "POST", "/v1/verifications", map[string]string{"to": "+14155550199", "clientIp": "203.0.113.50"})
		if code != 429 || body["code"] != "rate_limited" || body["limit"] != "client_ip" {
			t.Fatalf("4th send via api %d: %d %v", i, code, body)
		}
	}
	// The budget is the IP's: another end user is served.
	if code, body := second.call(t, "POST", "/v1/verifications", map[string]string{"to": "+14155550198", "clientIp": "203.0.113.51"}); code != 202 {
		t.Fatalf("other IP: %d %v", code, body)
	}
	// /metrics counts the refusals without a number in sight.
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `otp_rejections_total{country_code="1",limit="client_ip"} 1`) ||
		strings.Contains(string(b), "4155550") {
		t.Fatalf("metrics:\n%s", grep(string(b), "otp_"))
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
