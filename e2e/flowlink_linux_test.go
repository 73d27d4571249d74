package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// slowLink is a network namespace joined to this host by a veth pair, what
// leaves the namespace shaped by tbf to rate: wsbridge runs in it (ip netns
// exec), the browser on the host. Both go away with the test.
type slowLink struct {
	ns, inner string // the namespace, and its end's address
}

func newSlowLink(t *testing.T, rate string) *slowLink {
	t.Helper()
	requireTool(t, "/usr/sbin/ip", "Debian package iproute2")
	requireTool(t, "/usr/sbin/tc", "Debian package iproute2")
	if os.Geteuid() != 0 {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatal("a network namespace needs root, and WSBRIDGE_REQUIRE_ALL=1")
		}
		t.Skip("a network namespace needs root")
	}
	id := rand.IntN(1 << 16)
	l := &slowLink{ns: fmt.Sprintf("wsbe2e%d", id), inner: fmt.Sprintf("10.253.%d.%d", id>>8, id&0xfc|2)}
	host, peer := fmt.Sprintf("wsbe%dh", id), fmt.Sprintf("wsbe%dn", id)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", l.ns)
	t.Cleanup(func() {
		// Deleting one end of the pair deletes both, at once (the
		// namespace's teardown would, but later).
		if exec.Command("ip", "link", "show", host).Run() == nil {
			if out, err := exec.Command("ip", "link", "del", host).CombinedOutput(); err != nil {
				t.Errorf("ip link del %s: %v\n%s", host, err, out)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", l.ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", l.ns, err, out)
		}
	})
	run("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", l.ns)
	run("ip", "addr", "add", fmt.Sprintf("10.253.%d.%d/30", id>>8, id&0xfc|1), "dev", host)
	run("ip", "link", "set", host, "up")
	run("ip", "-n", l.ns, "addr", "add", l.inner+"/30", "dev", peer)
	run("ip", "-n", l.ns, "link", "set", peer, "up")
	run("ip", "-n", l.ns, "link", "set", "lo", "up")
	run("tc", "-n", l.ns, "qdisc", "add", "dev", peer, "root", "tbf", "rate", rate, "burst", "16kb", "latency", "100ms")
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
	inst := launchCommand(t, "", nil, "ip", "netns", "exec", link.ns, binary,
		"--address", link.inner, "--port", "0", "--logformat", "json", "--compression", "off", "--pty", "--", "/bin/sh")
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
