//go:build unix

package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
)

// cutProxy forwards TCP connections to a server until cut closes them all,
// as a network that drops does.
type cutProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string // where new connections go
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			target := p.target
			p.mu.Unlock()
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// retarget sends new connections to another server.
func (p *cutProxy) retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// cut closes every connection under way.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// highest is the highest N in "WORD N" in text.
func highest(word, text string) int {
	n := 0
	for _, m := range regexp.MustCompile(word+` (\d+)`).FindAllStringSubmatch(text, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
}

// TestTerminalLasting: bash on a lasting terminal (--linger) runs a
// counter; the network drops and the page reconnects to the same program,
// its earlier output back on the screen; a reload does too; a second
// browser watches from the read-only link, sees the same and cannot type.
func TestTerminalLasting(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--linger", "10m", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	proxy := newCutProxy(t, inst.Host)
	connected := chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected && document.getElementById("wsbridge-status").hidden`,
		chromedp.WithPollingTimeout(30*time.Second))
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+proxy.addr()+"/"),
		connected,
		typeLine(`for i in $(seq 100000); do echo "count $i"; sleep 0.1; done`),
		waitScreen("count 3"),
	)
	if err != nil {
		t.Fatalf("the counter: %v\nscreen:\n%s", err, screen(ctx))
	}

	// The network drops: the page reconnects with the terminal's id, and
	// the program is the same, still counting, the screen drawn again.
	before := highest("count", screen(ctx))
	proxy.cut()
	err = chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`!window.wsbridge.connected`, chromedp.WithPollingTimeout(10*time.Second)),
		connected,
		waitScreen("count "+strconv.Itoa(before+10)),
	)
	if err != nil {
		t.Fatalf("after the drop: %v\nscreen:\n%s", err, screen(ctx))
	}
	if s := screen(ctx); !strings.Contains(s, "count 1\n") || !strings.Contains(s, "seq 100000") {
		t.Fatalf("the screen did not come back after the reconnect:\n%s", s)
	}

	// A reload reattaches too (the tab keeps the id).
	before = highest("count", screen(ctx))
	if err := chromedp.Do(ctx, chromedp.Reload(), connected, waitScreen("count "+strconv.Itoa(before+10))); err != nil {
		t.Fatalf("after a reload: %v\nscreen:\n%s", err, screen(ctx))
	}
	if s := screen(ctx); !strings.Contains(s, "count 1\n") {
		t.Fatalf("the screen did not come back after the reload:\n%s", s)
	}

	// A second browser watches from the read-only link.
	link, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.wsbridge.watchURL`))
	if err != nil || !strings.Contains(link, "?watch=") {
		t.Fatalf("the read-only link: %q %v", link, err)
	}
	watcher := browser(t)
	before = highest("count", screen(ctx))
	err = chromedp.Do(watcher,
		chromedp.Navigate(link),
		connected,
		waitScreen("count 1\n"),
		waitScreen("count "+strconv.Itoa(before+5)),
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-readonly").textContent === "Read-only"`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("the watcher: %v\nscreen:\n%s", err, screen(watcher))
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-watchers").textContent.includes("2 watching")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the writer's page does not say two watch: %v", err)
	}
	// What the watcher types goes nowhere; what the writer types reaches
	// both (the terminal echoes it).
	if err := chromedp.Do(watcher, typeLine("typed-by-watcher")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, typeLine("typed-by-writer"), waitScreen("typed-by-writer")); err != nil {
		t.Fatalf("the writer's typing: %v\nscreen:\n%s", err, screen(ctx))
	}
	if err := chromedp.Do(watcher, waitScreen("typed-by-writer")); err != nil {
		t.Fatalf("the watcher does not see the writer's typing: %v\nscreen:\n%s", err, screen(watcher))
	}
	for _, c := range []struct {
		name string
		s    string
	}{{"writer", screen(ctx)}, {"watcher", screen(watcher)}} {
		if strings.Contains(c.s, "typed-by-watcher") {
			t.Fatalf("the watcher's typing reached the program (%s's screen):\n%s", c.name, c.s)
		}
	}
}

// TestConnectTTYReattach: connect --tty --reconnect to a lasting terminal
// whose connection is cut dials again with the terminal's id: the same
// program, the screen reset and drawn again, typing still reaching it, and
// its exit status at the end.
func TestConnectTTYReattach(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// read -t 0 asks whether a line waits; a read with a timeout that fires
	// mid-line, as under load, would drop the line's start.
	script := `echo $$ > ` + pidFile + `; i=0
while :; do i=$((i+1)); echo "tick $i"; if read -t 0 && read line; then [ "$line" = quit ] && exit 3; echo "got $line"; fi; sleep 0.05; done`
	inst := start(t, "--pty", "--linger", "1m", "--", "/bin/bash", "-c", script)
	proxy := newCutProxy(t, inst.Host)
	terminal, screen, exited := connectOnPty(t, "--tty", "--reconnect", "ws://"+proxy.addr()+"/")
	waitFor(t, "tick 3", func() bool { return strings.Contains(screen.String(), "tick 3\r\n") })
	program, _ := os.ReadFile(pidFile)

	cutAt := len(screen.String())
	before := highest("tick", screen.String())
	proxy.cut()
	want := "tick " + strconv.Itoa(before+20) + "\r\n"
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(screen.String()[cutAt:], want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after the cut; the screen since:\n%q", want, screen.String()[cutAt:])
		}
	}
	if after := screen.String()[cutAt:]; !strings.Contains(after, "\x1bc") || !strings.Contains(after[strings.Index(after, "\x1bc"):], "tick 1\r\n") {
		t.Fatalf("no reset and replay after the reconnect:\n%q", after[:min(len(after), 400)])
	}
	if now, _ := os.ReadFile(pidFile); string(now) != string(program) {
		t.Fatalf("another program after the reconnect: %q, was %q", now, program)
	}
	io.WriteString(terminal, "hello\r")
	waitFor(t, "the answer to typing", func() bool { return strings.Contains(screen.String(), "got hello") })
	io.WriteString(terminal, "quit\r")
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("connect did not exit after the program did:\n%q", screen.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3", err)
	}
}

// TestLingerExpires: a lasting terminal's program runs on after its client
// left (it goes on counting), and after the linger with nobody attached
// the signal ladder ends it and its children: no orphan is left.
func TestLingerExpires(t *testing.T) {
	mark := newMarker()
	ticks := filepath.Join(t.TempDir(), "ticks")
	count := func() int {
		b, _ := os.ReadFile(ticks)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	inst := start(t, "--pty", "--linger", "3s", "--", "/bin/bash", "-c",
		"sleep "+mark+" & sleep "+mark+" & i=0; while :; do i=$((i+1)); echo $i > "+ticks+"; sleep 0.05; done")
	c := inst.dial("/", nil)
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	waitProcesses(t, "sleep\x00"+mark, 2)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	readAll(t, c)
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["status"] == "left" })
	// Without a linger the hangup would have stopped the count by now.
	left := count()
	waitFor(t, "the count going on after the client left", func() bool { return count() >= left+3 })
	waitNoProcesses(t, "sleep\x00"+mark)
}

// TestTerminalReplayIsHistory: what a page that reattaches gets replayed
// is drawn, not answered: a cursor position query (ESC[6n) in the replay
// sends no answer to the program, and an rz start in it opens no picker;
// what is typed after the replay reaches the program.
func TestTerminalReplayIsHistory(t *testing.T) {
	input := filepath.Join(t.TempDir(), "input")
	// rz's start (ZRINIT) as rz writes it, last, as rz then waits.
	script := `printf 'query \033[6n\n'; echo history-ends; printf 'rz\r**\030B0100000023be50\r\212\021'; exec cat -v > ` + input
	inst := start(t, "--pty", "--linger", "1m", "--", "/bin/bash", "-c", script)
	// The first client answers nothing and leaves; the program lingers.
	c := inst.dial("/", nil)
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	id, out := "", ""
	for !strings.Contains(out, "\021") {
		mt, m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("the first client: %v after %q", err, out)
		}
		if mt == websocket.BinaryMessage {
			out += string(m)
		} else if msg, err := wire.ParseServerMessage(m); err == nil && msg.Type == wire.TypeSession {
			id = msg.ID
		}
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	readAll(t, c)

	// The page comes back with the terminal's id (the tab's storage).
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/terminal.json"),
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("wsbridge-session:/", `+jsString(id)+`)`),
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected && window.wsbridge.replayed !== false`, chromedp.WithPollingTimeout(30*time.Second)),
		waitScreen("history-ends"),
	)
	if err != nil {
		t.Fatalf("the page: %v\nscreen:\n%s", err, screen(ctx))
	}
	if busy, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.wsbridge.transferring`)); err != nil || busy {
		t.Fatalf("the replay's rz start began a transfer (%v)\nscreen:\n%s", err, screen(ctx))
	}
	if err := chromedp.Do(ctx, typeLine("typed-after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the typing", func() bool { b, _ := os.ReadFile(input); return strings.Contains(string(b), "typed-after") })
	if b, _ := os.ReadFile(input); strings.Contains(string(b), "^[") {
		t.Fatalf("an answer to the replay reached the program: %q", b)
	}
}

// TestConnectTTYTerminalGone: connect --tty --reconnect that comes back to
// a server without its terminal (here another server, as after a restart)
// says so and exits 74, rather than typing into the new terminal offered.
func TestConnectTTYTerminalGone(t *testing.T) {
	script := `i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done`
	first := start(t, "--pty", "--linger", "1m", "--", "/bin/bash", "-c", script)
	second := start(t, "--pty", "--linger", "1m", "--", "/bin/bash", "-c", script)
	proxy := newCutProxy(t, first.Host)
	_, screen, exited := connectOnPty(t, "--tty", "--reconnect", "ws://"+proxy.addr()+"/")
	waitFor(t, "tick 3", func() bool { return strings.Contains(screen.String(), "tick 3\r\n") })
	proxy.retarget(second.Host)
	proxy.cut()
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("connect did not exit when its terminal was gone:\n%q", screen.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 74 {
		t.Fatalf("exit %v, want 74", err)
	}
	waitFor(t, "the message", func() bool { return strings.Contains(screen.String(), "the terminal is gone") })
}

// TestTerminalWatchLinkEnded: a watching page whose terminal is gone when
// it reconnects (here another server, as after a restart: the handshake's
// 404 is hidden from the page) says the terminal has ended and stops
// retrying; a page opened on such a link says so at once.
func TestTerminalWatchLinkEnded(t *testing.T) {
	args := []string{"--pty", "--linger", "1m", "--", "/bin/bash", "-c", "echo ready; exec sleep 600"}
	first, second := start(t, args...), start(t, args...)
	proxy := newCutProxy(t, first.Host)
	c := first.dial("/", nil)
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	watch := ""
	for watch == "" {
		mt, m, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := wire.ParseServerMessage(m); mt == websocket.TextMessage && err == nil && msg.Type == wire.TypeSession {
			watch = msg.Watch
		}
	}
	link := "http://" + proxy.addr() + "/?watch=" + watch
	ended := chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-status").textContent.includes("has ended")`,
		chromedp.WithPollingTimeout(20*time.Second))
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		waitScreen("ready"),
	)
	if err != nil {
		t.Fatalf("the watcher: %v\nscreen:\n%s", err, screen(ctx))
	}
	proxy.retarget(second.Host)
	proxy.cut()
	if err := chromedp.Do(ctx, ended); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("wsbridge-status")))
		t.Fatalf("after the reconnect to a server without the terminal: %v; the page says %q", err, status)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(link), ended); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("wsbridge-status")))
		t.Fatalf("a page opened on the link: %v; it says %q", err, status)
	}
}
