package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpd/otpd/client"
	"github.com/otpd/otpd/internal/demo"
	"github.com/otpd/otpd/internal/testkit/browsertest"
	"github.com/otpd/otpd/internal/testkit/proctest"
	"github.com/otpd/otpd/internal/testkit/stacktest"
)

// devStack runs the real api and worker in development mode, so the
// worker's development sender prints each SMS instead of sending it.
type devStack struct{ *stacktest.Stack }

func startDev(t *testing.T) *devStack {
	t.Helper()
	bin, err := proctest.Build(true, "api", "worker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	return &devStack{stacktest.Start(t, stacktest.Config{Bin: bin, Development: true, Env: map[string]string{
		"API_KEYS": "demo-key-0123456789", "OTP_SECRET": "demo-secret-demo-secret-demo-secret-0123",
		"OTP_RESEND_COOLDOWN": "3s", "CHANNELS": "sms,whatsapp"}})}
}

var printedCode = regexp.MustCompile(`"body":"[^"]*?(\d{6})`)

// codes are the codes the development sender printed, oldest first.
func (s *devStack) codes() []string {
	var out []string
	for _, line := range strings.Split(s.Worker.Output(), "\n") {
		if strings.Contains(line, "DEVELOPMENT ONLY") {
			if m := printedCode.FindStringSubmatch(line); m != nil {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// lastPrinted is the development sender's last line.
func (s *devStack) lastPrinted() string {
	last := ""
	for _, line := range strings.Split(s.Worker.Output(), "\n") {
		if strings.Contains(line, "DEVELOPMENT ONLY") {
			last = line
		}
	}
	return last
}

func (s *devStack) waitCodes(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c := s.codes(); len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker printed %d codes, want %d:\n%s", len(s.codes()), n, proctest.Tail(s.Worker.Output(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A person signs up in a real browser: a number that is not one, then
// their number as they would type it, a wrong code, the same code again on
// WhatsApp once the countdown allows it, the right code, verified. Each
// error is tied to its input for a screen reader, and the success is read
// out.
func TestSignupInBrowser(t *testing.T) {
	s := startDev(t)
	c, err := client.New(s.Base, "demo-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	h, err := demo.Handler(c, demo.Options{Channels: []string{"sms", "whatsapp"}, Cooldown: 3 * time.Second, CodeLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(h)
	defer site.Close()

	bctx := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// empty empties an input as a person selecting its text and deleting it would.
	empty := func(id string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = ""; return true; })()`, id))); err != nil {
			t.Fatal(err)
		}
	}
	// screenshot keeps the page as it looks, for the README, when
	// OTPD_SCREENSHOT_DIR says where.
	screenshot := func(name string) {
		t.Helper()
		dir := os.Getenv("OTPD_SCREENSHOT_DIR")
		if dir == "" {
			return
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	// waitText waits until sel is visible and its text contains want.
	waitText := func(sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.offsetParent !== null && e.textContent.includes(%q); })()`, sel, want)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({phone: document.getElementById("phone").value,
				phoneError: document.getElementById("phone-error").textContent, codeError: document.getElementById("code-error").textContent})`))
			t.Fatalf("%s never showed %q (it shows %q; page %s): %v", sel, want, text(sel), state, err)
		}
	}

	do(chromedp.Navigate(site.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#phone")))
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("#code")))
	if err != nil {
		t.Fatal(err)
	}
	if attrs["autocomplete"] != "one-time-code" || attrs["inputmode"] != "numeric" {
		t.Fatalf("code input %v", attrs)
	}
	if got := text("#channels"); !strings.Contains(got, "Text message") || !strings.Contains(got, "WhatsApp") {
		t.Fatalf("channel choice %q", got)
	}

	// aria tells what a screen reader hears of an input: whether it is
	// invalid, what describes it, and whether it has the focus.
	aria := func(id string) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.getElementById(%q);
			return "invalid=" + e.getAttribute("aria-invalid") + " describedby=" + e.getAttribute("aria-describedby") +
				" focused=" + (document.activeElement === e); })()`, id)))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Not a number: the words say so, tied to the input, and nothing is sent.
	do(chromedp.SendKeys(chromedp.CSS("#phone"), "12"), chromedp.Click(chromedp.CSS("#send")))
	waitText("#phone-error", "doesn't look like a phone number")
	if got := aria("phone"); got != "invalid=true describedby=phone-error focused=true" {
		t.Fatalf("the phone input in error: %s", got)
	}

	// The number as a US user types it: editing unties the error.
	empty("phone")
	do(chromedp.SendKeys(chromedp.CSS("#phone"), "(415) 555-2671"))
	if got := aria("phone"); got != "invalid=null describedby=null focused=true" {
		t.Fatalf("the phone input once edited: %s", got)
	}
	do(chromedp.Click(chromedp.CSS("#send")))
	waitText("#sent-to", "+14155552671")
	waitText("#code-hint", "we texted to")
	code := s.waitCodes(t, 1)[0]
	// A button per channel, counting down: the code again, or another way.
	waitText("#resend-sms", "Resend by SMS (")
	waitText("#resend-whatsapp", "Send via WhatsApp instead (")

	// A wrong code: tied to the code input, beside its hint.
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	do(chromedp.SendKeys(chromedp.CSS("#code"), wrong), chromedp.Click(chromedp.CSS("#verify")))
	waitText("#code-error", "isn't right")
	if got := aria("code"); got != "invalid=true describedby=code-error code-hint focused=true" {
		t.Fatalf("the code input in error: %s", got)
	}

	// The countdown ends; the same code again, on WhatsApp this time.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("resend-whatsapp").disabled`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatal(err)
	}
	do(chromedp.Click(chromedp.CSS("#resend-whatsapp")))
	waitText("#code-note", "sent the code again on WhatsApp")
	if again := s.waitCodes(t, 2)[1]; again != code {
		t.Fatalf("the resend sent %s, the first %s", again, code)
	}
	if !strings.Contains(s.lastPrinted(), `"channel":"whatsapp"`) {
		t.Fatalf("the resend went: %s", s.lastPrinted())
	}
	waitText("#code-hint", "we sent on WhatsApp to")
	if got := aria("code"); got != "invalid=null describedby=code-hint focused=true" {
		t.Fatalf("the code input after the resend: %s", got)
	}
	waitText("#resend-whatsapp", "Resend via WhatsApp")
	waitText("#resend-sms", "Send by SMS instead")
	screenshot("demo-signup.png")

	// A code that is not 6 digits is a wrong one, in words that say why.
	empty("code")
	do(chromedp.SendKeys(chromedp.CSS("#code"), "12345"), chromedp.Click(chromedp.CSS("#verify")))
	waitText("#code-error", "The code is 6 digits")

	// The right code; the success is read out (focus moves to it).
	empty("code")
	do(chromedp.SendKeys(chromedp.CSS("#code"), code))
	if got := aria("code"); got != "invalid=null describedby=code-hint focused=true" {
		t.Fatalf("the code input once edited: %s", got)
	}
	do(chromedp.Click(chromedp.CSS("#verify")))
	waitText("#done", "Verified")
	waitText("#verified-to", "+14155552671")
	if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); err != nil || focused != "done-title" {
		t.Fatalf("focus on %q (%v), want the success heading", focused, err)
	}

	screenshot("demo-verified.png")
	// The API key never reached the browser.
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "demo-key") {
		t.Fatal("the API key is in the page")
	}
}

func atoi(s string) int {
	n := 0
	for _, ch := range s {
		n = n*10 + int(ch-'0')
	}
	return n
}

// Another site cannot make a visitor's browser send codes through the
// demo, directly or by DNS rebinding; a program without a browser's Origin
// must address it by the loopback address it listens on.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	// No otpd behind it: a request that got through would fail with 502.
	c, err := client.New("http://127.0.0.1:1", "k", client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	h, err := demo.Handler(c, demo.Options{Hosts: []string{"signup.example"}, Addr: "localhost:8081"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		host  string
		ctype string
		extra map[string]string
		want  int
	}{
		{"a form or no-cors fetch (text/plain)", "localhost:8081", "text/plain", nil, http.StatusUnsupportedMediaType},
		{"cross-site fetch", "localhost:8081", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site but another origin", "localhost:8081", "application/json", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign Origin", "localhost:8081", "application/json", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"DNS rebinding", "evil.example:8081", "application/json", map[string]string{"Origin": "http://evil.example:8081"}, http.StatusMisdirectedRequest},
		{"the page itself", "localhost:8081", "application/json", map[string]string{"Origin": "http://localhost:8081", "Sec-Fetch-Site": "same-origin"}, http.StatusBadGateway},
		{"a configured host, from its page", "signup.example:8081", "application/json; charset=utf-8",
			map[string]string{"Origin": "http://signup.example:8081"}, http.StatusBadGateway},
		{"a configured host, no Origin", "signup.example:8081", "application/json", nil, http.StatusForbidden},
		{"a program on this machine", "127.0.0.1:8081", "application/json", nil, http.StatusBadGateway},
		{"loopback IPv6", "[::1]:8081", "application/json", nil, http.StatusBadGateway},
		{"loopback, another port", "localhost:9999", "application/json", nil, http.StatusMisdirectedRequest},
		{"loopback, no port", "localhost", "application/json", nil, http.StatusMisdirectedRequest},
		{"the unspecified address", "0.0.0.0:8081", "application/json", nil, http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/start", strings.NewReader(`{"phone":"+14155552671"}`))
			req.Host = tc.host
			req.Header.Set("Content-Type", tc.ctype)
			for k, v := range tc.extra {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.want)
			}
		})
	}
}

// The code step offers the code again on each channel otpd enables, so a
// person whose SMS never comes can ask for a call; its errors and notes
// are tied to inputs and live regions. This runs without a browser;
// TestSignupInBrowser drives the same page.
func TestPageOffersEachChannel(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1", "k", client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	page := func(channels ...string) string {
		t.Helper()
		h, err := demo.Handler(c, demo.Options{Channels: channels})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost:8081/", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	resends := regexp.MustCompile(`<button id="([^"]+)" type="button" class="secondary resend" data-channel="([^"]*)"\s+data-again="([^"]+)" data-instead="([^"]+)" disabled>`)
	buttons := func(html string) []string {
		var out []string
		for _, m := range resends.FindAllStringSubmatch(html, -1) {
			out = append(out, strings.Join(m[1:], "|"))
		}
		return out
	}
	all := page("sms", "whatsapp", "call", "telegram")
	want := []string{"resend-sms|sms|Resend by SMS|Send by SMS instead",
		"resend-whatsapp|whatsapp|Resend via WhatsApp|Send via WhatsApp instead",
		"resend-call|call|Call me again|Call me instead",
		"resend-telegram|telegram|Resend via Telegram|Send via Telegram instead"}
	if got := buttons(all); !slices.Equal(got, want) {
		t.Fatalf("resend buttons %q, want %q", got, want)
	}
	for channels, want := range map[string]string{"sms": "resend|sms|Resend code|Resend code", "": "resend||Resend code|Resend code"} {
		var list []string
		if channels != "" {
			list = []string{channels}
		}
		if got := buttons(page(list...)); len(got) != 1 || got[0] != want {
			t.Fatalf("channels %q: resend buttons %q, want %q", channels, got, want)
		}
	}
	for _, s := range []string{`id="phone-error" class="error" role="alert"`, `id="code-error" class="error" role="alert"`,
		`id="code-note" class="note" role="status" aria-live="polite">`, `aria-describedby="code-hint"`,
		`<h2 id="done-title" class="verified" tabindex="-1">`, `value="telegram"`} {
		if !strings.Contains(all, s) {
			t.Errorf("the page has no %s", s)
		}
	}
	// The script ties errors to inputs and unties them, and reads the
	// success out.
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`setAttribute("aria-invalid", "true")`, `removeAttribute("aria-invalid")`,
		`"aria-describedby"`, `$("done-title").focus()`, `dataset.channel`} {
		if !strings.Contains(string(js), s) {
			t.Errorf("app.js has no %s", s)
		}
	}
}
