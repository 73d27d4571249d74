//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"
)

// termDial opens a terminal session and sends its first size.
func termDial(t *testing.T, inst *instance, path string, cols, rows int, flow bool) *websocket.Conn {
	t.Helper()
	c := inst.dial(path, nil)
	sendJSON(t, c, map[string]any{"type": "size", "cols": cols, "rows": rows, "flow": flow})
	return c
}

func sendJSON(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	msg, _ := json.Marshal(v)
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
}

// output is a terminal session's bytes, all binary messages joined.
func (r received) output() string { return string(bytes.Join(r.binary, nil)) }

// readTerminalUntil reads binary messages until the output so far contains
// want; it returns the output.
func readTerminalUntil(t *testing.T, c *websocket.Conn, out *bytes.Buffer, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), want) {
		mt, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v; output %q", want, err, out)
		}
		if mt == websocket.BinaryMessage {
			out.Write(data)
		}
	}
}

func TestTerminalProtocol(t *testing.T) {
	inst := start(t, "--pty", "--title", "my <title>", "--", "/bin/sh", "-c",
		`stty size; echo "TERM=$TERM COLORTERM=$COLORTERM"; tty; read x; stty size; echo "got $x"; exit 42`)
	c := termDial(t, inst, "/", 100, 30, false)
	expectMessage(t, c, websocket.TextMessage, `{"title":"my <title>","type":"title"}`)
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "30 100\r\n")
	readTerminalUntil(t, c, &out, "TERM=xterm-256color COLORTERM=truecolor\r\n/dev/pts/")
	sendJSON(t, c, map[string]any{"type": "size", "cols": 120, "rows": 40})
	sendJSON(t, c, map[string]any{"type": "something-newer", "x": 1}) // ignored
	c.WriteMessage(websocket.BinaryMessage, []byte("héllo\r"))
	r := readAll(t, c)
	rest := out.String() + r.output()
	if !strings.Contains(rest, "40 120\r\n") || !strings.Contains(rest, "got héllo\r\n") {
		t.Fatalf("output %q", rest)
	}
	if r.code != 4042 || r.reason != "exit 42" {
		t.Fatalf("closed %d %q", r.code, r.reason)
	}
	if len(r.texts) != 1 || r.texts[0] != `{"type":"exit","code":4042,"reason":"exit 42"}` {
		t.Fatalf("text messages %q", r.texts)
	}
}

func TestTerminalExitStatuses(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		reason string
	}{
		{"exit 0", 1000, "exit 0"},
		{"exit 1", 4001, "exit 1"},
		{"kill -9 $$", 4309, "signal 9 (killed)"},
	} {
		inst := start(t, "--pty", "--", "/bin/sh", "-c", tc.script)
		r := readAll(t, termDial(t, inst, "/", 80, 24, false))
		if r.code != tc.code || r.reason != tc.reason {
			t.Errorf("%q closed %d %q, want %d %q", tc.script, r.code, r.reason, tc.code, tc.reason)
		}
	}
}

// TestTerminalProtocolErrors: the first message must be the size; a text
// message must be a control message; a silent client is closed.
func TestTerminalProtocolErrors(t *testing.T) {
	marker := newMarker()
	inst := start(t, "--pty", "--", "/bin/sh", "-c", "sleep "+marker)
	for _, tc := range []struct {
		name   string
		typ    int
		msg    string
		reason string
	}{
		{"input before the size", websocket.BinaryMessage, "ls\r", "the first message must be a size message"},
		{"ack before the size", websocket.TextMessage, `{"type":"ack","bytes":1}`, "the first message must be a size message"},
		{"not JSON", websocket.TextMessage, "ls", "a text message must be a JSON control message"},
		{"no type", websocket.TextMessage, `{"cols":80}`, "a control message needs a type"},
		{"zero size", websocket.TextMessage, `{"type":"size","cols":0,"rows":24}`, "size 0x24 out of range"},
		{"huge size", websocket.TextMessage, `{"type":"size","cols":80,"rows":70000}`, "size 80x70000 out of range"},
	} {
		c := inst.dial("/", nil)
		c.WriteMessage(tc.typ, []byte(tc.msg))
		r := readAll(t, c)
		if r.code != websocket.ClosePolicyViolation || r.reason != tc.reason {
			t.Errorf("%s: closed %d %q, want 1008 %q", tc.name, r.code, r.reason, tc.reason)
		}
	}
	// An ack of more than was sent.
	c := termDial(t, inst, "/", 80, 24, true)
	sendJSON(t, c, map[string]any{"type": "ack", "bytes": 1 << 30})
	if r := readAll(t, c); r.code != websocket.ClosePolicyViolation || !strings.HasPrefix(r.reason, "ack of 1073741824 bytes") {
		t.Errorf("over-ack: closed %d %q", r.code, r.reason)
	}
	waitNoProcesses(t, marker)
}

// TestTerminalNoTailLost: every byte a program writes before it exits
// arrives before the close frame: 100 sessions of "echo hi; exit 0" and 100
// of a 2 MB cat (half of them with flow control), four clients at a time
// (ttyd lost all of "echo hi; exit 0" in 7 of 20 runs, and the tail of a
// 22 MB cat in 6 of 9).
func TestTerminalNoTailLost(t *testing.T) {
	var want strings.Builder
	for i := 1; i <= 250000; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	file := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(file, []byte(want.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := start(t, "--pty", "--url-args", "--", "/bin/sh", "-c", `[ "$1" = big ] && cat `+file+`; echo hi; exit 0`, "sh")
	bigOutput := strings.ReplaceAll(want.String(), "\n", "\r\n") + "hi\r\n"
	var bigRuns atomic.Int64 // every second big run uses flow control
	runs := make(chan string, 200)
	for range 100 {
		runs <- "small"
		runs <- "big"
	}
	close(runs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range 4 {
		wg.Go(func() {
			for kind := range runs {
				c, _, err := websocket.DefaultDialer.Dial(inst.URL+"/?arg="+kind, nil)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				var r received
				if kind == "big" && bigRuns.Add(1)%2 == 0 {
					// With flow control, each message acknowledged at once:
					// the ack may overtake the server's own count of it.
					c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24,"flow":true}`))
					r = readAcking(t, c)
				} else {
					c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`))
					r = readAll(t, c)
				}
				c.Close()
				expect := "hi\r\n"
				if kind == "big" {
					expect = bigOutput
				}
				if r.output() != expect || r.code != 1000 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s run: %d bytes, close %d %q", kind, len(r.output()), r.code, r.reason))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 200 runs lost output: %v", len(failures), failures[:min(5, len(failures))])
	}
}

// readAcking is readAll for a terminal client that acknowledges every binary
// message as it arrives.
func readAcking(t *testing.T, c *websocket.Conn) received {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var r received
	for {
		mt, data, err := c.ReadMessage()
		if err != nil {
			r.code, r.reason = websocket.CloseAbnormalClosure, err.Error()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.code, r.reason = ce.Code, ce.Text
			}
			return r
		}
		if mt == websocket.TextMessage {
			r.texts = append(r.texts, string(data))
			continue
		}
		r.binary = append(r.binary, data)
		c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"ack","bytes":%d}`, len(data)))
	}
}

// TestTerminalFlowControl: a client that asks for flow control and stops
// acknowledging gets at most the window (256 KiB); the program waits,
// wsbridge's memory stays flat, and each acknowledgement lets that much more
// output go.
func TestTerminalFlowControl(t *testing.T) {
	inst := start(t, "--pty", "--", "/usr/bin/yes", "flow-control-test")
	c := termDial(t, inst, "/", 80, 24, true)
	var received atomic.Int64
	go func() {
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			if mt == websocket.BinaryMessage {
				received.Add(int64(len(data)))
			}
		}
	}()
	// settled waits until nothing more arrives for 300 ms.
	settled := func() int64 {
		last := int64(-1)
		for range 100 {
			time.Sleep(300 * time.Millisecond)
			n := received.Load()
			if n == last {
				return n
			}
			last = n
		}
		t.Fatalf("output never stopped: %d bytes", last)
		return 0
	}
	const window = 256 << 10
	got := settled()
	if got == 0 || got > window {
		t.Fatalf("without acknowledgements got %d bytes, want 1 to %d", got, window)
	}
	rssBefore := rssKiB(t, inst.cmd.Process.Pid)
	time.Sleep(2 * time.Second) // yes keeps trying to write
	if n := received.Load(); n != got {
		t.Fatalf("output went on without acknowledgements: %d bytes, then %d", got, n)
	}
	if grew := rssKiB(t, inst.cmd.Process.Pid) - rssBefore; grew > 4<<10 {
		t.Fatalf("wsbridge grew %d KiB while the client acknowledged nothing", grew)
	}
	// Acknowledging 100,000 bytes lets about that much more come.
	sendJSON(t, c, map[string]any{"type": "ack", "bytes": 100000})
	more := settled() - got
	if more < 100000 || more > 100000+64<<10 {
		t.Fatalf("an ack of 100000 bytes let %d more through", more)
	}
}

// rssKiB is a process's resident memory.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestTerminalReadOnly(t *testing.T) {
	inst := start(t, "--pty", "--readonly", "--", "/bin/sh", "-c", `trap 'stty size' WINCH; echo ready; while :; do read x && echo "got:$x"; done`)
	c := termDial(t, inst, "/", 80, 24, false)
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "ready\r\n")
	c.WriteMessage(websocket.BinaryMessage, []byte("typed\r"))
	sendJSON(t, c, map[string]any{"type": "size", "cols": 90, "rows": 33})
	readTerminalUntil(t, c, &out, "33 90\r\n")
	c.WriteMessage(websocket.BinaryMessage, []byte("more\r"))
	sendJSON(t, c, map[string]any{"type": "size", "cols": 91, "rows": 34})
	readTerminalUntil(t, c, &out, "34 91\r\n")
	if strings.Contains(out.String(), "typed") || strings.Contains(out.String(), "more") {
		t.Fatalf("input reached a read-only terminal: %q", out.String())
	}
}

// TestTerminalURLArgs: ?arg= values become arguments only with --url-args.
func TestTerminalURLArgs(t *testing.T) {
	inst := start(t, "--pty", "--url-args", "--", "/bin/echo", "fixed")
	r := readAll(t, termDial(t, inst, "/?arg=one&arg=two+words&arg=%3B+rm", 80, 24, false))
	if r.output() != "fixed one two words ; rm\r\n" {
		t.Fatalf("output %q", r.output())
	}
	inst = start(t, "--pty", "--", "/bin/echo", "fixed")
	if r := readAll(t, termDial(t, inst, "/?arg=one", 80, 24, false)); r.output() != "fixed\r\n" {
		t.Fatalf("without --url-args: output %q", r.output())
	}
}

// TestOnceServesOneSession: a second client gets 503 while the first runs,
// and wsbridge exits when it ends.
func TestOnceServesOneSession(t *testing.T) {
	inst := start(t, "--once", "--pty", "--", "/bin/sh", "-c", "read x; exit 5")
	c := termDial(t, inst, "/", 80, 24, false)
	_, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second session: %v %v", resp, err)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("\r"))
	if r := readAll(t, c); r.code != 4005 {
		t.Fatalf("closed %d %q", r.code, r.reason)
	}
	select {
	case <-inst.exited:
		if inst.err != nil {
			t.Fatalf("wsbridge exited with %v", inst.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wsbridge --once still runs after its session")
	}
}

// TestExitNoConn: wsbridge exits when its last session ends, not before.
func TestExitNoConn(t *testing.T) {
	inst := start(t, "--exit-no-conn", "--", "/bin/sh", "-c", "read x; echo bye")
	a, b := inst.dial("/", nil), inst.dial("/", nil)
	a.WriteMessage(websocket.TextMessage, []byte("x"))
	readAll(t, a)
	time.Sleep(200 * time.Millisecond)
	select {
	case <-inst.exited:
		t.Fatal("wsbridge exited while a session was live")
	default:
	}
	b.WriteMessage(websocket.TextMessage, []byte("x"))
	readAll(t, b)
	select {
	case <-inst.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("wsbridge --exit-no-conn still runs after its last session")
	}
}

// TestTerminalBasePathAndAuth: behind a proxy's prefix the page, its bundle
// and the WebSocket live under --base-path; credentials guard the page, its
// options and the WebSocket, never the public bundle.
func TestTerminalBasePathAndAuth(t *testing.T) {
	inst := start(t, "--pty", "--base-path", "/term", "--basic-auth", "ann:secret", "--auth-fail-delay", "0s", "--", "/bin/echo", "hi")
	base := "http://" + inst.Host
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, auth bool) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		if auth {
			req.SetBasicAuth("ann", "secret")
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		path string
		auth bool
		want int
	}{
		{"/term/", false, 401},
		{"/term/", true, 200},
		{"/term/terminal.json", false, 401},
		{"/term/terminal.json", true, 200},
		{"/term/terminal.js", false, 200},
		{"/term/terminal.css", false, 200},
		{"/term/licenses.txt", false, 200},
		{"/term/nothing", true, 426}, // not a page: the WebSocket endpoint's answer
		{"/", true, 404},
		{"/terminal.js", false, 404},
		{"/term", true, 301},
	} {
		if got := get(tc.path, tc.auth).StatusCode; got != tc.want {
			t.Errorf("GET %s (auth %v): %d, want %d", tc.path, tc.auth, got, tc.want)
		}
	}
	if loc := get("/term?x=1", true).Header.Get("Location"); loc != "/term/?x=1" {
		t.Errorf("redirect to %q", loc)
	}
	page := get("/term/", true)
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	lic, _ := io.ReadAll(get("/term/licenses.txt", false).Body)
	if !strings.Contains(string(lic), "@xterm/xterm 6.0.0") || !strings.Contains(string(lic), "Permission is hereby granted") {
		t.Errorf("licenses.txt lacks the xterm.js notice: %.200s", lic)
	}

	if _, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/term/", nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("a WebSocket without credentials: %v", err)
	}
	h := http.Header{}
	h.Set("Authorization", "Basic YW5uOnNlY3JldA==") // ann:secret
	c := inst.dial("/term/", h)
	sendJSON(t, c, map[string]any{"type": "size", "cols": 80, "rows": 24})
	if r := readAll(t, c); r.output() != "hi\r\n" || r.code != 1000 {
		t.Fatalf("session under the base path: %q %d", r.output(), r.code)
	}
}

// TestTerminalOptions: --term-option values reach the page's options, typed
// (bad ones: TestBadCommandLines).
func TestTerminalOptions(t *testing.T) {
	inst := start(t, "--pty", "--title", "T", "--readonly",
		"--term-option", "fontSize=18", "--term-option", "cursorStyle=bar",
		"--term-option", `theme={"background":"#101010"}`, "--term-option", "cursorBlink=false",
		"--", "/bin/true")
	resp, err := http.Get("http://" + inst.Host + "/terminal.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"options":{"cursorBlink":false,"cursorStyle":"bar","fontSize":18,"theme":{"background":"#101010"}},"readonly":true,"title":"T"}` + "\n"
	if string(body) != want {
		t.Fatalf("terminal.json %s, want %s", body, want)
	}
	// A CONNECT request has an empty path: answered, never a panic.
	conn, err := net.Dial("tcp", inst.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	if strings.Contains(inst.output(), "panic") {
		t.Fatalf("wsbridge panicked:\n%s", inst.output())
	}
}

// TestTerminalRecording: --record writes an asciicast v2 file that
// asciinema reads back: header with the start size and the command, output
// events (a character cut between reads kept whole) and resize events.
func TestTerminalRecording(t *testing.T) {
	dir := t.TempDir()
	inst := start(t, "--pty", "--record", dir, "--", "/bin/sh", "-c", `printf 'h\303'; sleep 0.1; printf '\251llo wörld\n'; read x; stty size`)
	c := termDial(t, inst, "/", 100, 30, false)
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "wörld")
	sendJSON(t, c, map[string]any{"type": "size", "cols": 90, "rows": 20})
	c.WriteMessage(websocket.BinaryMessage, []byte("\r"))
	readAll(t, c)
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast"))
	if len(files) != 1 {
		t.Fatalf("recordings: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var header map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &header); err != nil {
		t.Fatalf("header %q: %v", lines[0], err)
	}
	if header["version"] != 2.0 || header["width"] != 100.0 || header["height"] != 30.0 || !strings.HasSuffix(header["command"].(string), `/bin/sh -c 'printf '\''h\303'\''; sleep 0.1; printf '\''\251llo wörld\n'\''; read x; stty size'`) {
		t.Fatalf("header %v", header)
	}
	var output strings.Builder
	var resizes []string
	last := 0.0
	for _, line := range lines[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(line), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event %q: %v", line, err)
		}
		if ts := ev[0].(float64); ts < last {
			t.Fatalf("time goes back at %q", line)
		} else {
			last = ts
		}
		switch ev[1] {
		case "o":
			output.WriteString(ev[2].(string))
		case "r":
			resizes = append(resizes, ev[2].(string))
		}
	}
	if output.String() != "héllo wörld\r\n\r\n20 90\r\n" || len(resizes) != 1 || resizes[0] != "90x20" {
		t.Fatalf("output %q, resizes %v", output.String(), resizes)
	}
	if played := asciinemaPlay(t, files[0]); !strings.Contains(played, "héllo wörld") || !strings.Contains(played, "20 90") {
		t.Fatalf("asciinema play: %q", played)
	}
}

// asciinemaPlay is what Debian's asciinema shows when it plays a recording
// (on a terminal: it reads keys from /dev/tty).
func asciinemaPlay(t *testing.T, file string) string {
	t.Helper()
	requireTool(t, "/usr/bin/asciinema", "Debian package asciinema")
	play := exec.Command("/usr/bin/asciinema", "play", "--speed", "10", file)
	play.Env = append(os.Environ(), "HOME="+t.TempDir())
	tty, err := pty.Start(play)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	played, _ := io.ReadAll(tty) // EIO once asciinema has exited
	if err := play.Wait(); err != nil {
		t.Fatalf("asciinema play: %v\n%q", err, played)
	}
	return string(played)
}

// TestTerminalRecordingLimit: --record-max stops a recording at its size
// with a last event that says so on the replayed screen, and a warning in
// the log; the session itself goes on.
func TestTerminalRecordingLimit(t *testing.T) {
	dir := t.TempDir()
	const limit = 64 << 10
	inst := start(t, "--pty", "--record", dir, "--record-max", "64KiB", "--", "/bin/sh", "-c",
		`head -c 300000 /dev/zero | tr '\0' x; echo; echo flood-done; read x; echo "still $x"`)
	c := termDial(t, inst, "/", 80, 24, false)
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "flood-done")
	c.WriteMessage(websocket.BinaryMessage, []byte("here\r"))
	if r := readAll(t, c); !strings.Contains(out.String()+r.output(), "still here") || r.code != 1000 {
		t.Fatalf("the session did not go on past the limit: %q, code %d", r.output(), r.code)
	}
	warn := inst.waitLog(func(m map[string]any) bool {
		return m["level"] == "WARN" && strings.HasPrefix(m["msg"].(string), "recording stopped")
	})
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast"))
	if len(files) != 1 || warn["file"] != files[0] || warn["limit"] != float64(limit) {
		t.Fatalf("recordings %v, warning %v", files, warn)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	last := lines[len(lines)-2] // the final "\n" leaves an empty string
	if len(data)-len(last) > limit || len(data) < limit/2 {
		t.Fatalf("%d bytes, %d without the last event; the limit is %d", len(data), len(data)-len(last), limit)
	}
	var ev []any
	if err := json.Unmarshal([]byte(last), &ev); err != nil || len(ev) != 3 || ev[1] != "o" ||
		!strings.Contains(ev[2].(string), "the recording stops here: it reached its limit of 65536 bytes") {
		t.Fatalf("last event %q: %v", last, err)
	}
	if strings.Contains(string(data[len(lines[0]):]), "flood-done") { // the header's command names it
		t.Fatal("output after the limit was recorded")
	}
	// asciinema still plays it, note and all.
	if played := asciinemaPlay(t, files[0]); !strings.Contains(played, "the recording stops here") {
		t.Fatalf("asciinema play: %q", played)
	}
}

// TestTerminalNoLeftovers: terminal sessions whose shell leaves a job behind
// that ignores the hangup, in a process group of its own, end three ways
// (the client closes, vanishes, or the shell exits); afterwards no process
// of theirs, no child and no extra descriptor is left.
func TestTerminalNoLeftovers(t *testing.T) {
	marker := newMarker()
	inst := start(t, "--pty", "--", "/bin/sh", "-c",
		`set -m; (trap '' HUP INT TERM; exec sleep `+marker+`) & echo started; read x; exit 0`)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				c, _, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
				if err != nil {
					errs <- err
					return
				}
				c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				var out []byte
				for !bytes.Contains(out, []byte("started")) {
					_, msg, err := c.ReadMessage()
					if err != nil {
						errs <- fmt.Errorf("worker %d session %d: %v", w, i, err)
						c.Close()
						return
					}
					out = append(out, msg...)
				}
				switch i % 3 {
				case 0:
					c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
					readAll(t, c)
				case 1:
					c.WriteMessage(websocket.BinaryMessage, []byte("\r"))
					if r := readAll(t, c); r.code != 1000 {
						errs <- fmt.Errorf("exit: closed %d %q", r.code, r.reason)
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitNoProcesses(t, marker)
	pid := inst.cmd.Process.Pid
	for i := 0; len(childrenOf(pid)) > 0 && i < 250; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if kids := childrenOf(pid); len(kids) != 0 {
		t.Fatalf("children left after 40 sessions: %v", kids)
	}
	if fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); len(fds) > 20 {
		t.Fatalf("%d descriptors open after every session ended", len(fds))
	}
}

// TestTerminalLoginEnvironment: a shell on the terminal starts with what a
// login gives (HOME, USER, LOGNAME and SHELL of wsbridge's account, its
// locale or C.UTF-8, TERM, COLORTERM), --passenv wins over those, typed CJK
// comes back whole through readline, and programs without --pty still get
// none of it.
func TestTerminalLoginEnvironment(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip("no account to compare with:", err)
	}
	shell := "/bin/sh"
	if out, err := exec.Command("getent", "passwd", u.Uid).Output(); err == nil {
		if f := strings.Split(strings.TrimSpace(string(out)), ":"); len(f) == 7 && f[6] != "" {
			shell = f[6]
		}
	}
	const script = `for v in HOME USER LOGNAME SHELL LANG LC_ALL LC_TIME TERM COLORTERM; do printf '%s=%s;' "$v" "$(printenv $v)"; done; echo
read -e -r x; echo "[$x] ${#x}"`
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no locale", []string{"LANG=", "LC_ALL=", "LC_CTYPE=", "LC_TIME=POSIX"}, nil,
			fmt.Sprintf("HOME=%s;USER=%s;LOGNAME=%s;SHELL=%s;LANG=C.UTF-8;LC_ALL=;LC_TIME=POSIX;TERM=xterm-256color;COLORTERM=truecolor;",
				u.HomeDir, u.Username, u.Username, shell)},
		{"wsbridge's locale, --passenv wins", []string{"LANG=C.utf8", "LC_TIME=", "HOME=/elsewhere", "TERM=vt100"}, []string{"--passenv", "PATH,HOME,TERM"},
			fmt.Sprintf("HOME=/elsewhere;USER=%s;LOGNAME=%s;SHELL=%s;LANG=C.utf8;LC_ALL=;LC_TIME=;TERM=vt100;COLORTERM=truecolor;",
				u.Username, u.Username, shell)},
	} {
		inst := startEnv(t, tc.env, append(tc.args, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-c", script)...)
		c := termDial(t, inst, "/", 80, 24, false)
		var out bytes.Buffer
		readTerminalUntil(t, c, &out, ";\r\n")
		if got := out.String(); !strings.Contains(got, tc.want+"\r\n") {
			t.Errorf("%s: environment %q, want %q", tc.name, got, tc.want)
		}
		c.WriteMessage(websocket.BinaryMessage, []byte("日本語\r"))
		r := readAll(t, c)
		if got := r.output(); !strings.Contains(got, "[日本語] 3\r\n") {
			t.Errorf("%s: typed 日本語, the shell read %q", tc.name, got)
		}
	}

	plain := startEnv(t, []string{"LANG=C.UTF-8"}, example("env.sh"))
	for _, line := range readAll(t, plain.dial("/", nil)).texts {
		if k, _, _ := strings.Cut(line, "="); slices.Contains([]string{"HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "COLORTERM"}, k) {
			t.Errorf("a program without --pty got %s", line)
		}
	}
}
