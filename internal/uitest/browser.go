// Package uitest drives the Temporal Web UI with headless Chromium through the DevTools protocol (chromedp): the
// browser test that reads an appointment's story the way an operator does, and the screenshot tool that
// illustrates docs/operations.md. Chromium is Debian's `chromium` package; .ci/run installs it and runs the browser test as a step of its own.
package uitest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds the browser: $CHROMIUM, else chromium or chromium-browser on the PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on the PATH (apt-get install chromium, or set CHROMIUM)")
}

// NewBrowser starts a headless Chromium with a fresh profile in userDataDir and returns a browser context and
// its cancel, which ends the browser process. Nothing reaches the network on its own (no QUIC, background
// networking, component updates or sync), so a run is quiet and deterministic on a machine without internet.
func NewBrowser(ctx context.Context, userDataDir string) (context.Context, context.CancelFunc, error) {
	path, err := ChromiumPath()
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if _, err := chromedp.Run(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelBrowser()
		cancelAlloc()
		return nil, nil, fmt.Errorf("starting chromium: %w", err)
	}
	return bctx, func() { cancelBrowser(); cancelAlloc() }, nil
}

// pageText is the page's visible text followed by the text of its same-origin frames: the Web UI renders the
// workflow's summary, details and current details (Markdown) in iframes.
const pageText = `(document.body ? document.body.innerText : "") + "\n" + [...document.querySelectorAll('iframe')].map(f => {
	try { return f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : "" } catch (e) { return "" } }).join("\n")`

// WaitForText polls the page's visible text until it contains every one of want, or the timeout passes. The
// Web UI renders asynchronously and auto-refreshes a running workflow, so a fixed wait would be either flaky or
// slow. It returns the last text seen.
func WaitForText(ctx context.Context, timeout time.Duration, want ...string) (string, error) {
	deadline := time.Now().Add(timeout)
	var text string
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, err := chromedp.Run(tctx, chromedp.Evaluate[string](pageText))
		if err == nil {
			text = t
		}
		cancel()
		if err == nil && containsAll(text, want) {
			return text, nil
		}
		if time.Now().After(deadline) {
			missing := []string{}
			for _, w := range want {
				if !strings.Contains(text, w) {
					missing = append(missing, w)
				}
			}
			return text, fmt.Errorf("the page never showed %q (last error %v)", missing, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// ClickText clicks the first element of the given CSS selector whose visible text starts with label (after
// trimming), for example a tab ("Event History" with its count) or a button of the Web UI.
func ClickText(ctx context.Context, selector, label string) error {
	js := fmt.Sprintf(`(() => { for (const el of document.querySelectorAll(%q)) {
		if (el.innerText && el.innerText.trim().startsWith(%q)) { el.scrollIntoView(); el.click(); return true } } return false })()`, selector, label)
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no %s with the text %q", selector, label)
	}
	return nil
}

// Screenshot captures the viewport as PNG through the DevTools protocol (never Chromium's --screenshot switch,
// which waits for the page to settle and hangs on a page that auto-refreshes).
func Screenshot(ctx context.Context, file string) error {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", file, err)
	}
	return os.WriteFile(file, png, 0o644)
}

// Navigate opens url in the browser's tab.
func Navigate(ctx context.Context, url string) error {
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Navigate(url))
	return err
}

// Eval runs a JavaScript expression in the page and returns its result.
func Eval(ctx context.Context, js string) (any, error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(tctx, chromedp.Evaluate[any](js))
}
