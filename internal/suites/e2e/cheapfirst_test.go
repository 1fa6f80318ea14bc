package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/telegramfake"
	"github.com/otpd/otpd/internal/testkit/twiliofake"
)

// The "cheap first" workflow, [telegram, sms], against SMS alone, on the
// real binaries with a fake Telegram and a fake Twilio: a population where
// 30% of the numbers have no Telegram account and 10% of the Telegram
// messages expire unread (Telegram refunds them), at a UK-like price list
// (an SMS 0.04, a Telegram message 0.01). Every user must end verified,
// and the workflow must cost less per verified user. OTPD_CHANNEL_SIM_USERS
// (default 40) sets the population; docs/api.md gives the figures of a
// larger run (make channel-sim).

type simResult struct {
	users, verified int
	byChannel       map[string]int
	spend, refunds  float64
	waits           []time.Duration // start to approval
}

func (r simResult) perVerified() float64 { return (r.spend - r.refunds) / float64(r.verified) }

func (r simResult) wait(q float64) time.Duration {
	slices.Sort(r.waits)
	return r.waits[int(q*float64(len(r.waits)-1))]
}

func TestCheapFirstSimulation(t *testing.T) {
	users := 40
	if n, err := strconv.Atoi(os.Getenv("OTPD_CHANNEL_SIM_USERS")); err == nil && n > 0 {
		users = n
	}
	sms := cheapFirstRun(t, users, "sms")
	tg := cheapFirstRun(t, users, "telegram,sms")
	for _, r := range []struct {
		name string
		simResult
	}{{"[sms]", sms}, {"[telegram, sms]", tg}} {
		t.Logf("%-16s users %d, verified %d, by channel %v, spend per verified user %.4f, start to verified p50 %v p95 %v",
			r.name, r.users, r.verified, r.byChannel, r.perVerified(), r.wait(0.5).Round(time.Millisecond), r.wait(0.95).Round(time.Millisecond))
	}
	if sms.verified != users || tg.verified != users {
		t.Fatalf("verified %d and %d of %d users", sms.verified, tg.verified, users)
	}
	// 60% of the users verify on Telegram (not the 30% without it, nor the
	// 10% whose message expired), give or take the rounding of small runs.
	if share := float64(tg.byChannel["telegram"]) / float64(users); share < 0.5 || share > 0.7 {
		t.Fatalf("%.2f of the users verified on Telegram, want about 0.6", share)
	}
	if tg.perVerified() >= sms.perVerified() {
		t.Fatalf("telegram first costs %.4f per verified user, SMS alone %.4f", tg.perVerified(), sms.perVerified())
	}
}

// cheapFirstRun verifies users numbers through a stack whose workflow is
// channels, every user at once, and reads what it cost from the metrics.
func cheapFirstRun(t *testing.T, users int, channels string) simResult {
	t.Helper()
	tg := telegramfake.Start(telegramToken)
	t.Cleanup(tg.Close)
	s := startStack(t, map[string]string{
		"CHANNELS": "telegram,sms", "OTP_WORKFLOW": channels, "TELEGRAM_GATEWAY_TOKEN": telegramToken,
		"TELEGRAM_GATEWAY_URL": tg.URL, "PUBLIC_URL": "", "OTP_CHANNEL_TIMEOUT": "60s",
		"CHANNEL_PRICES": "sms=0.04,telegram=0.01", "CHANNEL_PRICE_CURRENCY": "GBP",
		// One backend signing up many users at once from one range: the
		// abuse limits are not what this measures.
		"API_KEY_SEND_LIMITS": "off", "API_KEY_WRITE_LIMITS": "off", "PREFIX_SEND_LIMITS": "off", "FRAUD_GUARD": "off",
		"WORKER_METRICS_ADDR": proctest.FreeAddr(t), "API_ADMIN_ADDR": proctest.FreeAddr(t),
	})
	res := simResult{users: users, byChannel: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range users {
		to := fmt.Sprintf("+4474009%05d", i)
		if i%10 < 3 {
			tg.WithoutTelegram(to)
		}
		wg.Go(func() {
			start := time.Now()
			channel, err := simUser(s, tg, to, i%10 == 3)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("user %s: %v", to, err)
				return
			}
			res.verified++
			res.byChannel[channel]++
			res.waits = append(res.waits, time.Since(start))
		})
	}
	wg.Wait()
	res.spend = metricSum(t, "http://"+s.Env["WORKER_METRICS_ADDR"]+"/metrics", "otp_spend_total")
	res.refunds = metricSum(t, "http://"+s.Env["API_ADMIN_ADDR"]+"/metrics", "otp_refunds_total")
	return res
}

// simUser is one signup: the user reads the first code that reaches them
// and types it; a Telegram message meant to expire is reported expired.
func simUser(s *stack, tg *telegramfake.Server, to string, expire bool) (channel string, err error) {
	ctx := context.Background()
	status, v, err := s.Call(http.DefaultClient, apiKey, "POST", "/v1/verifications", obj{"to": to})
	if err != nil || status != 202 {
		return "", fmt.Errorf("start: %d %v %v", status, v, err)
	}
	id := v["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	expired := "" // the request id of the Telegram message that expired
	for time.Now().Before(deadline) {
		code := ""
		m, onTelegram := sentTo(tg, id)
		onTelegram = onTelegram && m.RequestID != expired
		switch {
		case onTelegram && expire:
			if st, err := tg.Report(ctx, m.RequestID, telegramfake.StatusExpired); err != nil || st != 200 {
				return "", fmt.Errorf("report: %d %v", st, err)
			}
			expired = m.RequestID // its SMS comes next
		case onTelegram:
			if st, err := tg.Report(ctx, m.RequestID, telegramfake.StatusDelivered); err != nil || st != 200 {
				return "", fmt.Errorf("report: %d %v", st, err)
			}
			channel, code = "telegram", m.Params["code"]
		default:
			if m, ok := smsFor(s.Fake, to); ok {
				channel, code = "sms", twiliofake.CodeIn(m.Form.Get("Body"))
			}
		}
		if code != "" {
			st, res, err := s.Call(http.DefaultClient, apiKey, "POST", "/v1/verifications/check", obj{"id": id, "code": code})
			if err != nil || st != 200 || res["valid"] != true {
				return "", fmt.Errorf("check: %d %v %v", st, res, err)
			}
			return channel, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no code reached %s", to)
}

// sentTo finds the Telegram message of verification id, by its payload.
func sentTo(tg *telegramfake.Server, id string) (telegramfake.Request, bool) {
	for _, m := range tg.Sent() {
		if strings.HasPrefix(m.Params["payload"], id+":") {
			return m, true
		}
	}
	return telegramfake.Request{}, false
}

func smsFor(fake *twiliofake.Server, to string) (twiliofake.Request, bool) {
	for _, m := range fake.Messages() {
		if m.Form.Get("To") == to {
			return m, true
		}
	}
	return twiliofake.Request{}, false
}

// metricSum adds up every series of a counter at url.
func metricSum(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += f
		}
	}
	return sum
}
