// Package browsertest starts Debian's headless Chromium for tests that must
// see a page as a person does (chromedp). .ci/run installs chromium; a
// machine without it skips these tests, except under CI.
package browsertest

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/otpd/otpd/internal/testkit/proctest"
)

// Path is the Chromium binary ("" when none is installed).
func Path() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a fresh headless browser for the test and returns its
// context; it ends with the test. The caller adds its own timeouts to
// what it runs: the browser's start must not carry one.
func Start(t *testing.T) context.Context {
	t.Helper()
	browser := Path()
	if browser == "" {
		proctest.Lack(t, "chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(900, 760), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start browser: %v", err)
	}
	return ctx
}
