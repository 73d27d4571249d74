package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/wsbridge/wsbridge/internal/shapedlink"
)

// newSlowLink makes a link whose namespace's output is shaped to rate:
// wsbridge runs in the namespace (ip netns exec), the browser on the host.
// It goes away with the test.
func newSlowLink(t *testing.T, rate string) *shapedlink.Link {
	t.Helper()
	requireTool(t, "/usr/sbin/ip", "Debian package iproute2")
	requireTool(t, "/usr/sbin/tc", "Debian package iproute2")
	if os.Geteuid() != 0 {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatal("a network namespace needs root, and WSBRIDGE_REQUIRE_ALL=1")
		}
		t.Skip("a network namespace needs root")
	}
	l, err := shapedlink.New("wsbe", 253, rate, shapedlink.FromNamespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Remove(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// countReceived counts, in window.__wsbRx, the bytes of the binary
// messages the page's WebSocket receives (the terminal's output).
const countReceived = `(() => {
	const WS = window.WebSocket;
	window.__wsbRx = 0;
	window.WebSocket = class extends WS {
		constructor(...args) {
			super(...args);
			this.addEventListener('message', (e) => {
				if (typeof e.data !== 'string') window.__wsbRx += e.data.byteLength;
			});
		}
	};
})()`

// TestTerminalCtrlCOnSlowLinkInBrowser: the terminal page, in Chromium,
// over a 100 KB/s link (800 kbit/s), runs yes and after 300 KB of its
// output types Ctrl-C. What the page receives after that was on its way:
// the flow window, which follows the page's acks (a quarter second of
// output at this rate, or its 64 KiB floor), where a fixed 256 KiB window
// was 2.6 s of output. No clock: the bytes after the Ctrl-C are counted
// until the shell answers a command typed after it.
func TestTerminalCtrlCOnSlowLinkInBrowser(t *testing.T) {
	ctx := browser(t)
	link := newSlowLink(t, "800kbit")
	// Without compression: yes's output deflates a hundredfold, and the
	// link would not be what holds it back.
	inst := launchCommand(t, "", nil, "ip", "netns", "exec", link.NS, binary,
		"--address", link.Inner, "--port", "0", "--logformat", "json", "--compression", "off", "--pty", "--", "/bin/sh")
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	err := chromedp.Do(ctx,
		protocol(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: countReceived}),
		chromedp.EmulateViewport(1000, 600),
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(40*time.Second)),
		typeLine("yes"),
		chromedp.Poll[chromedp.Void](`window.__wsbRx >= 300000`, chromedp.WithPollingTimeout(40*time.Second)),
	)
	if err != nil {
		t.Fatalf("yes through the page: %v\nscreen:\n%s", err, screen(ctx))
	}
	at, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__wsbRx`))
	if err != nil {
		t.Fatal(err)
	}
	// Ctrl-C as xterm.js hands a key to the page (its onData); CDP's
	// Ctrl+C key event reaches the page but not xterm.js's key handler in
	// headless Chromium.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.wsbridge.term.input("\x03", true)`),
		typeLine("echo END$((6*7))"), waitScreen("END42")); err != nil {
		t.Fatalf("the shell after Ctrl-C: %v\nscreen:\n%s", err, screen(ctx))
	}
	end, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__wsbRx`))
	if err != nil {
		t.Fatal(err)
	}
	after := end - at
	t.Logf("%d bytes after Ctrl-C", after)
	// A window of 64 KiB and as much again for the terminal's own buffers
	// and the time the Ctrl-C takes to leave the page; a fixed window of
	// 256 KiB exceeds it on its own (266 KB came after Ctrl-C, 70 KB now).
	if bound := 128 << 10; after > bound {
		t.Fatalf("%d bytes came after Ctrl-C, want at most %d", after, bound)
	}
}
