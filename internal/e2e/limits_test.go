package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/proctest"
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

// The review's reproduction, on the real binaries: 30 simultaneous wrong
// codes from one clientIp under CLIENT_IP_CHECK_LIMITS=3/1h got 11
// evaluated. The budget is now taken before the check: at most 3.
func TestParallelWrongChecksFromOneIP(t *testing.T) {
	s := startStack(t, map[string]string{
		"CLIENT_IP_CHECK_LIMITS": "3/1h", "PREFIX_SEND_LIMITS": "off", "OTP_MAX_CHECKS": "10",
	})
	var ids []string
	for i := 0; i < 10; i++ {
		code, body := s.call(t, "POST", "/v1/verifications", map[string]string{"to": fmt.Sprintf("+1415555040%d", i)})
		if code != 202 {
			t.Fatalf("send %d: %d %v", i, code, body)
		}
		ids = append(ids, body["id"].(string))
	}
	answers := make([]int, 30)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], _ = s.call(t, "POST", "/v1/verifications/check",
				map[string]string{"id": ids[i%len(ids)], "code": "000000", "clientIp": "198.51.100.7"})
		}()
	}
	wg.Wait()
	evaluated := 0
	for _, id := range ids {
		_, v := s.call(t, "GET", "/v1/verifications/"+id, nil)
		evaluated += int(v["checkAttempts"].(float64))
	}
	count := map[int]int{}
	for _, a := range answers {
		count[a]++
	}
	if evaluated > 3 || count[200] != evaluated || count[429] != 30-evaluated {
		t.Fatalf("%d evaluated, answers %v", evaluated, count)
	}
}
