package e2e

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/testkit/obscheck"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// series maps each metric a scrape exposes to the label names its series
// carry.
type series map[string]map[string]bool

var labelPair = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"`)

func scrape(t *testing.T, url string, into series) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name := line[:end]
		if into[name] == nil {
			into[name] = map[string]bool{}
		}
		if line[end] == '{' {
			for _, m := range labelPair.FindAllStringSubmatch(line[end:], -1) {
				into[name][m[1]] = true
			}
		}
	}
}

// Every metric the Grafana dashboard and the alert rules read, and every
// label their selectors match on, is one the real api and worker export
// once they have done their work: sends, a refusal, wrong and right codes,
// a status callback, a fallback step and verification events.
func TestDashboardAndAlertsMatchTheBinaries(t *testing.T) {
	h := newHook(t)
	tg := telegramfake.Start(telegramToken)
	t.Cleanup(tg.Close)
	s := startStack(t, map[string]string{
		"CHANNELS": "sms,whatsapp,telegram", "TWILIO_WHATSAPP_FROM": "+14155238886", "PUBLIC_URL": "",
		"TELEGRAM_GATEWAY_TOKEN": telegramToken, "TELEGRAM_GATEWAY_URL": tg.URL,
		"CHANNEL_PRICES": "sms=0.0079,whatsapp=0.005,telegram=0.01",
		"WEBHOOK_URL":    h.URL, "WEBHOOK_SECRET": e2eWebhookSecret, "WORKER_METRICS_ADDR": proctest.FreeAddr(t),
		"API_ADMIN_ADDR": proctest.FreeAddr(t),
	})
	const to, other = "+14155552671", "+14155550177"
	ctx := context.Background()

	// A workflow whose SMS is reported undelivered, approved on WhatsApp.
	sms := await(t, s, to, func() { s.startWorkflow(t, to, client.ChannelSMS, client.ChannelWhatsApp) })
	code := twiliofake.CodeIn(sms.Form.Get("Body"))
	await(t, s, "whatsapp:"+to, func() {
		if status, err := s.Fake.StatusCallback(ctx, sms, "undelivered", 30003); err != nil || status != 204 {
			t.Fatalf("callback: %d %v", status, err)
		}
	})
	// A refusal (the cooldown), a wrong code, then the right one.
	if _, err := s.client.Start(ctx, client.StartRequest{To: to}); !refused(err, 429, client.CodeRateLimited) {
		t.Fatalf("a resend within the cooldown: %v", err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if res, err := s.client.Check(ctx, client.CheckRequest{To: to, Code: wrong}); err != nil || res.Valid {
		t.Fatalf("wrong code: %+v %v", res, err)
	}
	if res, err := s.client.Check(ctx, client.CheckRequest{To: to, Code: code}); err != nil || !res.Valid {
		t.Fatalf("right code: %+v %v", res, err)
	}
	// A send Twilio refuses for good, then one it accepts (one after the
	// other: the scripted refusal goes to whichever request comes first).
	s.Fake.Script(twiliofake.Response{Status: 400, Code: 21610})
	s.waitDelivery(t, s.start(t, client.StartRequest{To: other}).ID, "failed")
	s.waitDelivery(t, s.start(t, client.StartRequest{To: "+14155550178"}).ID, "sending")
	h.wait(t, "verification.approved", 1, 15*time.Second)
	// A Telegram message that expires undelivered, and is refunded.
	s.start(t, client.StartRequest{To: "+14155550179", Channel: client.ChannelTelegram})
	if code, err := tg.Report(ctx, telegramSent(t, tg, 1).RequestID, telegramfake.StatusExpired); err != nil || code != 200 {
		t.Fatalf("telegram report: %d %v", code, err)
	}
	s.waitDelivery(t, tg.Sent()[0].Params["payload"][:34], "undelivered")

	got := series{}
	scrape(t, "http://"+s.Env["API_ADMIN_ADDR"]+"/metrics", got)
	workerMetrics := "http://" + s.Env["WORKER_METRICS_ADDR"] + "/metrics"
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := series{}
		scrape(t, workerMetrics, w)
		// The webhook trimmer sets its gauge within its first pass.
		if w["otp_webhooks_pending"] != nil && w["otp_webhooks_total"] != nil || time.Now().After(deadline) {
			maps.Copy(got, w)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	dash, err := obscheck.Dashboard("../../../deploy/grafana/otpd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := obscheck.Rules("../../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Prometheus adds these to every series it scrapes.
	scraped := map[string]bool{"job": true, "instance": true}
	checked := 0
	for _, q := range append(dash, rules...) {
		for name, labels := range obscheck.Selectors(q.Expr) {
			if name == "up" {
				continue // Prometheus's own
			}
			have, ok := got[name]
			if !ok {
				t.Errorf("%s: %s is not exported by the api or the worker", q.Where, name)
				continue
			}
			for l := range labels {
				if !have[l] && !scraped[l] {
					t.Errorf("%s: %s has no label %q (it has %v)", q.Where, name, l, slices.Sorted(maps.Keys(have)))
				}
			}
			checked++
		}
	}
	if checked < 30 {
		t.Fatalf("only %d metric references checked", checked)
	}
	if t.Failed() {
		t.Logf("exported: %v", slices.Sorted(maps.Keys(got)))
	}
}
