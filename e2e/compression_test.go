//go:build unix

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumOffer is what Chromium offers in its handshakes.
const chromiumOffer = "permessage-deflate; client_max_window_bits"

// extensionsFor does a raw handshake on path with Chromium's offer and
// returns the Sec-WebSocket-Extensions of the 101 answer ("" for none).
// gorilla's client cannot send the header itself.
func extensionsFor(t *testing.T, host, path string) string {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: %s\r\n\r\n", path, host, chromiumOffer)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake on %s: %v %v", path, resp, err)
	}
	return resp.Header.Get("Sec-WebSocket-Extensions")
}

// TestCompressionNegotiated: permessage-deflate is negotiated where the
// route's compression says so: auto (the default) on terminals only, on
// for any backend, off never; by flags and in a config file alike.
func TestCompressionNegotiated(t *testing.T) {
	echo := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) { _, _ = io.Copy(c, c); c.Close() }).Addr().String()
	const deflate = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pty", "/bin/cat"}, deflate},
		{[]string{"--pty", "--compression", "auto", "/bin/cat"}, deflate},
		{[]string{"--pty", "--compression", "off", "/bin/cat"}, ""},
		{[]string{"/bin/cat"}, ""},
		{[]string{"--compression", "on", "/bin/cat"}, deflate},
		{[]string{"--compression", "off", "/bin/cat"}, ""},
		{[]string{"--tcp", echo}, ""},
		{[]string{"--tcp", echo, "--compression", "on"}, deflate},
	} {
		inst := start(t, tc.args...)
		if got := extensionsFor(t, inst.Host, "/"); got != tc.want {
			t.Errorf("wsbridge %s: Sec-WebSocket-Extensions %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
		inst.stop()
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	os.WriteFile(file, []byte(`listen: [{port: 0}]
defaults: {compression: "on"}
routes:
  - {path: /term, pty: {command: /bin/cat}}
  - {path: /quiet-term, pty: {command: /bin/cat}, compression: "off"}
  - {path: /cat, exec: {command: /bin/cat}}
  - {path: /auto-cat, exec: {command: /bin/cat}, compression: auto}
  - {path: /tcp, tcp: {target: `+echo+`}}
`), 0o644)
	inst := launchConfig(t, file)
	for path, want := range map[string]string{"/term": deflate, "/quiet-term": "", "/cat": deflate, "/auto-cat": "", "/tcp": deflate} {
		if got := extensionsFor(t, inst.Host, path); got != want {
			t.Errorf("config route %s: Sec-WebSocket-Extensions %q, want %q", path, got, want)
		}
	}
}

// relay is a TCP relay in front of a server that counts the bytes each way:
// what crossed the wire, WebSocket frames and all.
type relay struct {
	addr     string
	up, down atomic.Int64 // to the server, from it
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{}
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() { copyCounting(s, c, &r.up); close(done) }()
		copyCounting(c, s, &r.down)
		<-done
	})
	r.addr = l.Addr().String()
	return r
}

// copyCounting copies src to dst, counting, until either fails; then it
// closes both, which ends the copy the other way.
func copyCounting(dst, src net.Conn, n *atomic.Int64) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		n.Add(int64(k))
		if _, werr := dst.Write(buf[:k]); err != nil || werr != nil {
			return
		}
	}
}

// TestConnectCompression: `wsbridge connect --compression` negotiates
// permessage-deflate with a route that takes it, and what it sends and
// gets back is whole, in fewer bytes on the wire than it holds; without
// the flag, it offers nothing and the bytes are as many.
func TestConnectCompression(t *testing.T) {
	inst := start(t, "--compression", "on", "--binary", "/bin/cat")
	input := strings.Repeat("-rw-r--r-- 1 root root  1234 Jan  1 00:00 changelog.Debian.gz\n", 10000) // 640 KB
	for _, compress := range []bool{true, false} {
		r := startRelay(t, inst.Host)
		args := []string{"ws://" + r.addr + "/"}
		if compress {
			args = append([]string{"--compression"}, args...)
		}
		run := runConnect(t, strings.NewReader(input), nil, args...)
		if run.code != 0 || run.stdout != input {
			t.Fatalf("connect --compression=%v: exit %d, %d bytes out of %d; stderr:\n%s", compress, run.code, len(run.stdout), len(input), run.stderr)
		}
		up, down, n := r.up.Load(), r.down.Load(), int64(len(input))
		t.Logf("compression %v: %d bytes of input, %d up and %d down on the wire", compress, n, up, down)
		if compress && (up > n/10 || down > n/10) || !compress && (up < n || down < n) {
			t.Errorf("compression %v: %d bytes up and %d down on the wire for %d each way", compress, up, down, n)
		}
	}
}

// TestCompressedTerminalInBrowser: Chromium negotiates permessage-deflate
// with a terminal route by default; a long output arrives right, in far
// fewer bytes than it holds, and typing (Chromium deflates what it sends
// too) still works.
func TestCompressedTerminalInBrowser(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	r := startRelay(t, inst.Host)
	handshakes := make(chan network.Headers, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventWebSocketHandshakeResponseReceived); ok {
			select {
			case handshakes <- e.Response.Headers:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1000, 600),
		chromedp.Navigate("http://"+r.addr+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		typeLine("echo ready $((6*7))"),
		waitScreen("ready 42"),
	)
	if err != nil {
		t.Fatalf("the terminal did not start: %v\nscreen:\n%s", err, screen(ctx))
	}
	var ext string
	select {
	case h := <-handshakes:
		for k, v := range h {
			if strings.EqualFold(k, "Sec-WebSocket-Extensions") {
				ext = fmt.Sprint(v)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Chromium reported no handshake")
	}
	if !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("Chromium's handshake answer: Sec-WebSocket-Extensions %q, want permessage-deflate", ext)
	}

	// 20,000 lines of 40 bytes and CRLF: 840,000 bytes of output, by cat in
	// large writes. (A write per line, as bash's echo in a loop, makes
	// messages as small as the reader keeps up: each deflated alone, their
	// ratio depends on how busy the machine is.)
	const line = "drwxr-xr-x 2 root root 4096 share/doc"
	listing := filepath.Join(t.TempDir(), "listing")
	if err := os.WriteFile(listing, []byte(strings.Repeat(line+"\n", 20000)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := r.down.Load()
	if err := chromedp.Do(ctx,
		typeLine(`clear; cat `+listing+`; echo "done $((6*7))"`),
		waitScreen("done 42"),
	); err != nil {
		t.Fatalf("the long output: %v\nscreen:\n%s", err, screen(ctx))
	}
	got := r.down.Load() - before
	const output = int64(20000 * (len(line) + 2))
	t.Logf("%d bytes of output, %d on the wire", output, got)
	if got > output/10 {
		t.Errorf("%d bytes on the wire for %d bytes of output: not compressed", got, output)
	}
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
		const b = wsbridge.term.buffer.active; let n = 0;
		for (let y = 0; y < b.length; y++) if (b.getLine(y).translateToString(true) === `+jsString(line)+`) n++;
		return n;
	})()`))
	if err != nil || lines < 500 {
		t.Fatalf("%d whole lines of the output in the scrollback (%v), want its last ones\nscreen:\n%s", lines, err, screen(ctx))
	}
}
