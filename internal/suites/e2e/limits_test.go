package e2e

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
)

// Limits live in Redis, so two API processes enforce one budget.
func TestLimitsAcrossTwoAPIs(t *testing.T) {
	s := startStack(t, map[string]string{
		"CLIENT_IP_SEND_LIMITS": "3/1m", "PREFIX_SEND_LIMITS": "off", "API_KEY_SEND_LIMITS": "off",
		"API_ADMIN_ADDR": proctest.FreeAddr(t),
	})
	env := maps.Clone(s.Env)
	addr := proctest.FreeAddr(t)
	env["HTTP_ADDR"], env["API_ADMIN_ADDR"] = addr, "127.0.0.1:0"
	other := s.Run(t, "api", env)
	if err := proctest.WaitHTTP("http://"+addr+"/readyz", 20*time.Second, proctest.Gone(other)); err != nil {
		t.Fatal(err)
	}
	second := &stack{Stack: &stacktest.Stack{Base: "http://" + addr}, client: newClient(t, "http://"+addr)}

	apis := []*stack{s, second}
	for i := 0; i < 3; i++ {
		to := "+1415555010" + string(rune('0'+i))
		if v, err := apis[i%2].client.Start(t.Context(), client.StartRequest{To: to, ClientIP: "203.0.113.50"}); err != nil {
			t.Fatalf("send %d via api %d: %v %+v", i, i%2, err, v)
		}
	}
	for i, api := range apis {
		v, err := api.client.Start(t.Context(), client.StartRequest{To: "+14155550199", ClientIP: "203.0.113.50"})
		if e := refusal(t, err); e == nil || e.Status != 429 || e.Code != client.CodeRateLimited || e.Limit != "client_ip" {
			t.Fatalf("4th send via api %d: %v %+v", i, err, v)
		}
	}
	// The budget is the IP's: another end user is served.
	if v, err := second.client.Start(t.Context(), client.StartRequest{To: "+14155550198", ClientIP: "203.0.113.51"}); err != nil {
		t.Fatalf("other IP: %v %+v", err, v)
	}
	// /metrics counts the refusals without a number in sight.
	resp, err := http.Get("http://" + s.Env["API_ADMIN_ADDR"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `otp_rejections_total{country_code="1",limit="client_ip",tenant="default"} 1`) ||
		strings.Contains(string(b), "4155550") {
		t.Fatalf("metrics:\n%s", grep(string(b), "otp_"))
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
		v, err := s.client.Start(t.Context(), client.StartRequest{To: fmt.Sprintf("+1415555040%d", i)})
		if err != nil {
			t.Fatalf("send %d: %v %+v", i, err, v)
		}
		ids = append(ids, v.ID)
	}
	// Each answer is "200", or a refusal's status and code.
	answers := make([]string, 30)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.client.Check(t.Context(), client.CheckRequest{ID: ids[i%len(ids)], Code: "000000", ClientIP: "198.51.100.7"})
			var e *client.Error
			switch {
			case err == nil:
				answers[i] = "200"
			case errors.As(err, &e):
				answers[i] = fmt.Sprintf("%d %s", e.Status, e.Code)
			default: // no answer: t.Fatal belongs to the test's goroutine
				t.Error(err)
				answers[i] = err.Error()
			}
		}()
	}
	wg.Wait()
	evaluated := 0
	for _, id := range ids {
		evaluated += s.get(t, id).CheckAttempts
	}
	count := map[string]int{}
	for _, a := range answers {
		count[a]++
	}
	if evaluated > 3 || count["200"] != evaluated || count["429 "+string(client.CodeRateLimited)] != 30-evaluated {
		t.Fatalf("%d evaluated, answers %v", evaluated, count)
	}
}
