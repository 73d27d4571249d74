//go:build unix

package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's package) for one test, with
// any extra options.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	requireTool(t, "/usr/bin/chromium", "Debian package chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestDevConsoleInBrowser drives the dev console in a real browser: connect,
// see output that looks like HTML shown as text (never run), send a line,
// and see the close code and reason when the session ends.
func TestDevConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	evil := `<img src=x onerror="document.title=42">`
	inst := start(t, "--devconsole", "/bin/sh", "-c", "echo '"+evil+"'; exec cat")
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Click(chromedp.ID("connect")),
		chromedp.WaitVisible(`//div[@class="out"][contains(., "onerror")]`),
		chromedp.SendKeys(chromedp.ID("input"), "hello from chromium\r"),
		chromedp.WaitVisible(`//div[@class="out"][. = "hello from chromium"]`),
		chromedp.Click(chromedp.ID("connect")), // now "Disconnect"
		chromedp.WaitVisible(`//div[@class="info"][contains(., "closed: code 1000 (exit 0)")]`),
	)
	if err != nil {
		t.Fatalf("browser: %v\nwsbridge log:\n%s", err, inst.output())
	}
	title, err1 := chromedp.Run(ctx, chromedp.Title())
	images, err2 := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#log img").length`))
	logText, err3 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if title == "42" || images != 0 || !strings.Contains(logText, evil) {
		t.Fatalf("program output ran as HTML: title %q, %d images, log %q", title, images, logText)
	}
	if dir := os.Getenv("WSBRIDGE_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(dir, "devconsole.png"), png, 0o644)
		}
	}
}
