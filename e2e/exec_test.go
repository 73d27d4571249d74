//go:build unix

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

func TestLineModeRoundTrip(t *testing.T) {
	inst := start(t, example("greeter.sh"))
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "Who are you?")
	c.WriteMessage(websocket.TextMessage, []byte("Alice"))
	expectMessage(t, c, websocket.TextMessage, "Hello, Alice!")
	// A binary message in text mode is delivered too, never dropped.
	c.WriteMessage(websocket.BinaryMessage, []byte("Bob"))
	expectMessage(t, c, websocket.TextMessage, "Hello, Bob!")
}

func TestCloseCodeCarriesExitStatus(t *testing.T) {
	inst := start(t, example("exit.sh"))
	for _, tc := range []struct {
		query  string
		code   int
		reason string
	}{
		{"0", 1000, "exit 0"},
		{"1", 4001, "exit 1"},
		{"42", 4042, "exit 42"},
		{"255", 4255, "exit 255"},
	} {
		r := readAll(t, inst.dial("/?"+tc.query, nil))
		// "bye" has no final newline and still arrives, before the close frame.
		if strings.Join(r.all, "|") != "bye" || r.code != tc.code || r.reason != tc.reason {
			t.Errorf("exit %s: got %q then close %d %q, want \"bye\" then %d %q", tc.query, r.all, r.code, r.reason, tc.code, tc.reason)
		}
	}

	killed := start(t, "/bin/sh", "-c", "echo last words; kill -KILL $$")
	r := readAll(t, killed.dial("/", nil))
	if strings.Join(r.texts, "|") != "last words" || r.code != 4309 || r.reason != "signal 9 (killed)" {
		t.Errorf("killed: got %q then close %d %q", r.texts, r.code, r.reason)
	}
}

func TestAllOutputBeforeClose(t *testing.T) {
	// 2 MiB of numbered lines written as fast as the program can, then exit:
	// every line must arrive, in order, before the close frame.
	inst := start(t, "/usr/bin/seq", "1", "300000")
	r := readAll(t, inst.dial("/", nil))
	if r.code != 1000 || len(r.texts) != 300000 || r.texts[0] != "1" || r.texts[299999] != "300000" {
		t.Fatalf("got %d lines, close %d %q", len(r.texts), r.code, r.reason)
	}
}

func TestLongLineArrivesInPieces(t *testing.T) {
	inst := start(t, "--maxframesize", "10", "/bin/sh", "-c", "echo abcdefghijKLMNOPQRSTuvw; echo short")
	r := readAll(t, inst.dial("/", nil))
	if got := strings.Join(r.texts, "|"); got != "abcdefghij|KLMNOPQRST|uvw|short" {
		t.Fatalf("got %q", got)
	}

	// Under the limit, a line far longer than any read is still one message.
	inst = start(t, "/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; echo; echo next")
	r = readAll(t, inst.dial("/", nil))
	if len(r.texts) != 2 || r.texts[0] != strings.Repeat("a", 300000) || r.texts[1] != "next" {
		t.Fatalf("got %d messages", len(r.texts))
	}
}

func TestInvalidUTF8OutputGoesBinary(t *testing.T) {
	inst := start(t, "/usr/bin/printf", `ok\n\377\376\nend\n`)
	r := readAll(t, inst.dial("/", nil))
	if got := strings.Join(r.all, "|"); got != "ok|bin:\xff\xfe|end" || r.code != 1000 {
		t.Fatalf("got %q close %d", got, r.code)
	}
}

func TestRawFramingAppendsNothing(t *testing.T) {
	inst := start(t, "--framing", "raw", "/usr/bin/wc", "-c")
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("abc"))
	c.WriteMessage(websocket.TextMessage, []byte("de"))
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	r := readAll(t, c)
	// wc saw exactly 5 bytes: no newline was added to either message.
	if got := strings.TrimSpace(strings.Join(r.texts, "")); got != "5" || r.code != 1000 {
		t.Fatalf("wc -c said %q, close %d", got, r.code)
	}
}

func TestBinaryModeIsByteExact(t *testing.T) {
	for _, flag := range []string{"--binary", "--framing=binary"} {
		inst := start(t, flag, "/bin/cat")
		c := inst.dial("/", nil)
		payload := make([]byte, 3<<20)
		rand.Read(payload)
		go func() {
			for i := 0; i < len(payload); i += 100000 {
				c.WriteMessage(websocket.BinaryMessage, payload[i:min(i+100000, len(payload))])
			}
			// Our close half-closes: cat gets EOF, and the echo still arrives.
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		}()
		r := readAll(t, c)
		got := bytes.Join(r.binary, nil)
		if len(r.texts) != 0 || sha256.Sum256(got) != sha256.Sum256(payload) || r.code != 1000 {
			t.Fatalf("%s: %d text messages, %d of %d bytes back, close %d %q", flag, len(r.texts), len(got), len(payload), r.code, r.reason)
		}
	}
}

func TestClientCloseStopsWholeGroup(t *testing.T) {
	mark := newMarker()
	// The shell ignores SIGINT and SIGTERM; its background sleep is a
	// grandchild. Only SIGKILL to the whole group ends both.
	inst := start(t, "--closems", "50", "/bin/sh", "-c", "trap '' INT TERM; sleep "+mark+" & echo started; wait")
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "started")
	waitProcesses(t, "sleep\x00"+mark, 1) // the background sleep may still be exec'ing
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	r := readAll(t, c)
	if r.code != 4309 {
		t.Errorf("close %d %q, want 4309 (SIGKILL after SIGINT and SIGTERM were ignored)", r.code, r.reason)
	}
	waitNoProcesses(t, mark)
	line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	if line["status"] != "signal 9 (killed)" {
		t.Errorf("access log status %v", line["status"])
	}
}

func TestDroppedClientStopsProcess(t *testing.T) {
	mark := newMarker()
	inst := start(t, "/bin/sh", "-c", "echo up; exec sleep "+mark)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "up")
	c.UnderlyingConn().Close() // no close frame: the TCP connection just goes
	waitNoProcesses(t, mark)
}

func TestGrandchildKeepingStdoutOpen(t *testing.T) {
	mark := newMarker()
	inst := start(t, "/bin/sh", "-c", "sleep "+mark+" & echo hi")
	r := readAll(t, inst.dial("/", nil))
	if strings.Join(r.texts, "|") != "hi" || r.code != 1000 {
		t.Fatalf("got %q close %d %q", r.texts, r.code, r.reason)
	}
	waitNoProcesses(t, mark)
	if kids := childrenOf(inst.cmd.Process.Pid); len(kids) != 0 {
		t.Fatalf("unreaped children: %v", kids)
	}
}

func TestProgramThatClosesStdoutIsStopped(t *testing.T) {
	// The program closes stdout and runs on without reading stdin: the session
	// still ends (the output is over), the program by the ladder's SIGINT.
	mark := newMarker()
	inst := start(t, "/bin/sh", "-c", "echo bye; exec sleep "+mark+" >&-")
	c := inst.dial("/", nil)
	go c.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20)) // nobody reads it
	r := readAll(t, c)
	if strings.Join(r.texts, "|") != "bye" || r.code != 4302 {
		t.Fatalf("got %q close %d %q, want \"bye\" then 4302", r.texts, r.code, r.reason)
	}
	waitNoProcesses(t, mark)
}

func TestChildDiesWhenWsbridgeIsKilled(t *testing.T) {
	mark := newMarker()
	inst := start(t, "/bin/sleep", mark)
	inst.dial("/", nil)
	waitProcesses(t, mark, 1)
	inst.cmd.Process.Kill()
	<-inst.exited
	waitNoProcesses(t, mark)
}

func TestStderrNeverBlocks(t *testing.T) {
	// websocketd hangs on a stderr line over 4 KiB; here 1 MiB on one line is
	// logged (cut short) and the program goes on.
	script := "head -c 1048576 /dev/zero | tr '\\0' x >&2; echo >&2; echo 'short note' >&2; echo done"
	inst := start(t, "/bin/sh", "-c", script)
	r := readAll(t, inst.dial("/", nil))
	if strings.Join(r.texts, "|") != "done" || r.code != 1000 {
		t.Fatalf("got %q close %d", r.texts, r.code)
	}
	long := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "stderr" && m["truncated"] == true })
	if l, _ := long["line"].(string); len(l) != 4096 {
		t.Errorf("logged %d bytes of the long line, want 4096", len(l))
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "stderr" && m["line"] == "short note" })

	passed := start(t, "--passstderr", "/bin/sh", "-c", "echo to-stderr-directly >&2; echo done")
	readAll(t, passed.dial("/", nil))
	// With the newline: the "serving" log line quotes the command.
	for i := 0; !strings.Contains(passed.output(), "to-stderr-directly\n") && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(passed.output(), "to-stderr-directly\n") {
		t.Errorf("--passstderr: the line did not reach wsbridge's stderr")
	}
}

// TestStderrJSON: --stderr json sends stdout and stderr as websocketd 0.5
// does with --passstderr, a JSON message a line, in the order written
// (the script waits for input between streams), the close carrying the exit
// status; input is unchanged; long lines come whole, in messages within
// --maxframesize, cut between characters.
func TestStderrJSON(t *testing.T) {
	script := `echo 'out one'; read x; printf 'err <%s> "q"\t日本\n' "$x" >&2; read y; printf 'bad \377\n'; read z; printf tail >&2; printf 'no newline'; exit 3`
	inst := start(t, "--stderr", "json", "/bin/sh", "-c", script)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, `{"stream":"stdout","data":"out one"}`)
	c.WriteMessage(websocket.TextMessage, []byte("two"))
	expectMessage(t, c, websocket.TextMessage, `{"stream":"stderr","data":"err \u003ctwo\u003e \"q\"\t日本"}`)
	c.WriteMessage(websocket.TextMessage, []byte("three"))
	expectMessage(t, c, websocket.TextMessage, `{"stream":"stdout","data":"bad \ufffd"}`)
	c.WriteMessage(websocket.TextMessage, []byte("four"))
	r := readAll(t, c)
	slices.Sort(r.texts) // two pipes: either may come first
	if want := []string{`{"stream":"stderr","data":"tail"}`, `{"stream":"stdout","data":"no newline"}`}; !slices.Equal(r.texts, want) || len(r.binary) > 0 {
		t.Errorf("last lines %q %q, want %q", r.texts, r.binary, want)
	}
	if r.code != 4003 || r.reason != "exit 3" {
		t.Errorf("closed %d %q, want 4003 \"exit 3\"", r.code, r.reason)
	}
	// Still logged, as websocketd does.
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "stderr" && m["line"] == "tail" })

	long := `head -c 300 /dev/zero | tr '\0' '<'; echo; awk 'BEGIN { for (i = 0; i < 3000; i++) printf "é"; print "" }' >&2`
	inst = start(t, "--stderr", "json", "--maxframesize", "100", "/bin/sh", "-c", long)
	r = readAll(t, inst.dial("/", nil))
	got := map[string]string{}
	for _, m := range r.texts {
		var msg struct{ Stream, Data string }
		if err := json.Unmarshal([]byte(m), &msg); err != nil || len(m) > 100 || !utf8.ValidString(msg.Data) || strings.Contains(msg.Data, "\ufffd") {
			t.Fatalf("message %q (%d bytes): %v", m, len(m), err)
		}
		got[msg.Stream] += msg.Data
	}
	if got["stdout"] != strings.Repeat("<", 300) || got["stderr"] != strings.Repeat("é", 3000) || r.code != 1000 {
		t.Errorf("stdout %d bytes, stderr %d bytes, close %d; want 300, 6000, 1000", len(got["stdout"]), len(got["stderr"]), r.code)
	}

	// websocketd 0.4's --passstderr is --stderr pass, and may say so.
	passed := start(t, "--passstderr", "--stderr", "pass", "/bin/sh", "-c", "echo to-wsbridge-stderr >&2")
	readAll(t, passed.dial("/", nil))
	passed.stop()
	if !strings.Contains(passed.output(), "to-wsbridge-stderr\n") {
		t.Errorf("--passstderr --stderr pass: the line did not reach wsbridge's stderr")
	}
}

func TestShutdownSends1001AndStopsEverything(t *testing.T) {
	mark := newMarker()
	sock := filepath.Join(t.TempDir(), "ws.sock")
	inst := launch(t, "--unixsocket", sock, "--logformat", "json", "/bin/sh", "-c", "echo up; exec sleep "+mark)
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })
	dialer := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial("unix", sock) }}
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := dialer.Dial("ws://localhost/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		expectMessage(t, c, websocket.TextMessage, "up")
		conns = append(conns, c)
	}
	took := inst.stop()
	for i, c := range conns {
		if r := readAll(t, c); r.code != websocket.CloseGoingAway {
			t.Errorf("client %d: close %d %q, want 1001", i, r.code, r.reason)
		}
	}
	if inst.err != nil {
		t.Errorf("wsbridge exit: %v", inst.err)
	}
	if took > 10*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	waitNoProcesses(t, mark)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("unix socket file left behind: %v", err)
	}
}

func TestListensOnLoopbackByDefault(t *testing.T) {
	inst := launch(t, "--port", "0", "--logformat", "json", "/bin/cat")
	a := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })
	if u, _ := a["url"].(string); !strings.HasPrefix(u, "ws://127.0.0.1:") && !strings.HasPrefix(u, "ws://[::1]:") {
		t.Fatalf("listening on %v", u)
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	for _, m := range inst.logs {
		if u, ok := m["url"].(string); ok && m["msg"] == "listening" && !strings.Contains(u, "127.0.0.1") && !strings.Contains(u, "[::1]") {
			t.Errorf("listening beyond loopback: %v", u)
		}
		if m["level"] == "WARN" {
			t.Errorf("warning on loopback: %v", m)
		}
	}
}

func TestWarnsBeyondLoopback(t *testing.T) {
	inst := launch(t, "--address", "0.0.0.0", "--port", "0", "--logformat", "json", "/bin/cat")
	inst.waitLog(func(m map[string]any) bool {
		return m["level"] == "WARN" && strings.Contains(fmt.Sprint(m["msg"]), "beyond loopback")
	})
}

func handshakeStatus(t *testing.T, url string, header http.Header) (int, http.Header) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols, resp.Header
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header
}

func TestOriginChecks(t *testing.T) {
	def := start(t, "/bin/cat")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"", 101},                    // not a browser
		{"http://" + def.Host, 101},  // same origin
		{"http://evil.example", 403}, // another site's page
		{"null", 403},                // sandboxed page
		{"http://127.0.0.1:1", 403},  // same host, other port
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		if got, _ := handshakeStatus(t, def.URL+"/", h); got != tc.want {
			t.Errorf("default policy, Origin %q: %d, want %d", tc.origin, got, tc.want)
		}
	}

	any := start(t, "--origin=*", "/bin/cat")
	if got, _ := handshakeStatus(t, any.URL+"/", http.Header{"Origin": {"http://evil.example"}}); got != 101 {
		t.Errorf("--origin='*': %d", got)
	}
	list := start(t, "--origin", "app.example:8443,https://other.example", "/bin/cat")
	for origin, want := range map[string]int{
		"https://app.example:8443": 101,
		"http://app.example:8443":  101,
		"https://app.example:9000": 403,
		"https://other.example":    101,
		"http://other.example":     403,
		"http://" + list.Host:      101, // the server's own pages stay allowed
	} {
		if got, _ := handshakeStatus(t, list.URL+"/", http.Header{"Origin": {origin}}); got != want {
			t.Errorf("--origin list, Origin %q: %d, want %d", origin, got, want)
		}
	}
}

func TestSubprotocolNegotiated(t *testing.T) {
	inst := start(t, "--subprotocol", "chat.v1", "/bin/cat")
	if got := negotiate(t, inst, "other", "chat.v1"); got != "chat.v1" {
		t.Fatalf("negotiated %q", got)
	}
}

// negotiate dials with the offered subprotocols and returns the one chosen.
func negotiate(t *testing.T, inst *instance, offers ...string) string {
	t.Helper()
	d := websocket.Dialer{Subprotocols: offers}
	c, _, err := d.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Subprotocol()
}

func TestCGIEnvironment(t *testing.T) {
	inst := start(t, example("env.sh"))
	envOf := func() map[string]string {
		h := http.Header{}
		h.Set("X-Forwarded-For", "10.9.8.7")
		h.Set("X_Forwarded_For", "1.2.3.4")
		h.Set("Proxy", "http://evil.example:3128")
		h.Set("X_Only_Underscores", "sneaky")
		c := inst.dial("/some/path?x=1&y=2", h)
		env := map[string]string{}
		for _, line := range readAll(t, c).texts {
			k, v, _ := strings.Cut(line, "=")
			env[k] = v
		}
		return env
	}
	env := envOf()
	for k, want := range map[string]string{
		"QUERY_STRING":         "x=1&y=2",
		"REQUEST_URI":          "/some/path?x=1&y=2",
		"PATH_INFO":            "/some/path",
		"SCRIPT_NAME":          "/",
		"REMOTE_ADDR":          "127.0.0.1",
		"SERVER_NAME":          "127.0.0.1",
		"SERVER_PORT":          strings.Split(inst.Host, ":")[1],
		"REQUEST_METHOD":       "GET",
		"GATEWAY_INTERFACE":    "CGI/1.1",
		"HTTP_X_FORWARDED_FOR": "10.9.8.7",
		"PATH":                 os.Getenv("PATH"),
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if v, ok := env["HTTP_X_ONLY_UNDERSCORES"]; ok {
		t.Errorf("a header spelled with underscores reached the program: %q", v)
	}
	if _, ok := env["HTTP_PROXY"]; ok {
		t.Errorf("a Proxy header became HTTP_PROXY=%q", env["HTTP_PROXY"])
	}
	if _, ok := env["WSBRIDGE_TEST_SECRET"]; ok {
		t.Errorf("a variable outside --passenv reached the program")
	}
	if env["REMOTE_PORT"] == "" || env["UNIQUE_ID"] == "" {
		t.Errorf("REMOTE_PORT=%q UNIQUE_ID=%q", env["REMOTE_PORT"], env["UNIQUE_ID"])
	}
	if again := envOf(); again["UNIQUE_ID"] == env["UNIQUE_ID"] {
		t.Errorf("UNIQUE_ID repeated: %s", env["UNIQUE_ID"])
	}
}

func TestMaxForksAnswers429(t *testing.T) {
	inst := start(t, "--maxforks", "1", "/bin/cat")
	c := inst.dial("/", nil)
	status, h := handshakeStatus(t, inst.URL+"/", nil)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("second session: %d, Retry-After %q", status, h.Get("Retry-After"))
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	readAll(t, c)
	// The slot is free again once the first session has ended.
	for i := 0; i < 100; i++ {
		if status, _ = handshakeStatus(t, inst.URL+"/", nil); status == 101 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after the first session ended: %d", status)
}

func TestOversizedMessageCloses1009(t *testing.T) {
	inst := start(t, "--maxframesize", "100", "/bin/cat")
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), 101))
	if r := readAll(t, c); r.code != websocket.CloseMessageTooBig {
		t.Fatalf("close %d %q, want 1009", r.code, r.reason)
	}
}

func TestInvalidUTF8InputCloses1007(t *testing.T) {
	inst := start(t, "/bin/cat")
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("ok"))
	expectMessage(t, c, websocket.TextMessage, "ok")
	c.WriteMessage(websocket.TextMessage, []byte("bad \xff"))
	if r := readAll(t, c); r.code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("close %d %q, want 1007", r.code, r.reason)
	}
}

func TestMalformedHandshakesAndFrames(t *testing.T) {
	inst := start(t, "/bin/cat")
	raw := func(req string) string {
		conn, err := net.Dial("tcp", inst.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte(req))
		out, _ := io.ReadAll(conn)
		return string(out)
	}
	badVersion := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\nConnection: close\r\n\r\n"
	if out := raw(badVersion); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Errorf("bad version: %q", firstLine(out))
	}
	noKey := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if out := raw(noKey); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Errorf("no key: %q", firstLine(out))
	}
	if out := raw("GARBAGE\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Errorf("garbage: %q", firstLine(out))
	}

	// An unmasked frame from a client is a protocol error: 1002.
	c := inst.dial("/", nil)
	c.UnderlyingConn().Write([]byte{0x81, 0x02, 'h', 'i'})
	if r := readAll(t, c); r.code != websocket.CloseProtocolError {
		t.Errorf("unmasked frame: close %d %q, want 1002", r.code, r.reason)
	}
	// The server is still fine.
	c = inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("still here"))
	expectMessage(t, c, websocket.TextMessage, "still here")
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\r\n"); return line }

func TestPingDropsSilentClient(t *testing.T) {
	mark := newMarker()
	inst := start(t, "--pingms", "250", "/bin/sh", "-c", "echo up; exec sleep "+mark)

	alive := inst.dial("/", nil) // gorilla answers pings while it reads
	expectMessage(t, alive, websocket.TextMessage, "up")
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()

	silent := inst.dial("/", nil)
	silent.SetPingHandler(func(string) error { return nil }) // never answers
	expectMessage(t, silent, websocket.TextMessage, "up")
	go func() {
		for {
			if _, _, err := silent.ReadMessage(); err != nil {
				return
			}
		}
	}()
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	time.Sleep(time.Second) // four more ping intervals
	if n := len(processesWith(mark)); n != 1 {
		t.Fatalf("want only the answering client's process left, found %d", n)
	}
}

func TestRedirPort(t *testing.T) {
	var redir int
	inst := startOnFreePort(t, func(port int) []string {
		redir = port
		return []string{"--redirport", fmt.Sprint(port), "/bin/cat"}
	})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/a/b?c=d", redir))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "http://" + inst.Host + "/a/b?c=d"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Fatalf("%d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func TestCustomHeaders(t *testing.T) {
	inst := start(t, "--header", "X-All: 1, 2", "--header-ws", "X-WS: yes", "--header-http", "X-HTTP: yes", "/bin/cat")
	c, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if resp.Header.Get("X-All") != "1, 2" || resp.Header.Get("X-WS") != "yes" || resp.Header.Get("X-HTTP") != "" {
		t.Errorf("upgrade headers %v", resp.Header)
	}
	plain, err := http.Get("http://" + inst.Host + "/")
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusUpgradeRequired || plain.Header.Get("X-All") != "1, 2" || plain.Header.Get("X-HTTP") != "yes" || plain.Header.Get("X-WS") != "" {
		t.Errorf("plain response %d %v", plain.StatusCode, plain.Header)
	}
}

func TestAccessLogLine(t *testing.T) {
	inst := start(t, example("exit.sh"))
	readAll(t, inst.dial("/?3", nil))
	m := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	if m["status"] != "exit 3" || m["close_code"] != float64(4003) || m["bytes_out"] != float64(3) || m["path"] != "/" || m["client"] == nil || m["duration"] == nil {
		t.Fatalf("access line %v", m)
	}
}

func TestNoLeftoversAfterManySessions(t *testing.T) {
	// --closems: cat ends at its input's end, however busy the machine; the
	// default's 100 ms before SIGINT (4302) is not always enough under load.
	inst := start(t, "--closems", "5000", "/bin/cat")
	// 4 clients at once, 50 sessions each, ended half by a close frame and
	// half by dropping the connection.
	session := func(i int) error {
		c, _, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		msg := fmt.Sprintf("hello %d", i)
		c.WriteMessage(websocket.TextMessage, []byte(msg))
		if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
			return fmt.Errorf("session %d: echo %q, %v", i, got, err)
		}
		if i%2 == 0 {
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 1000) {
				return fmt.Errorf("session %d: %v, want close 1000", i, err)
			}
		}
		return nil
	}
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 50 {
				if err := session(w*50 + i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pid := inst.cmd.Process.Pid
	for i := 0; len(childrenOf(pid)) > 0 && i < 250; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if kids := childrenOf(pid); len(kids) != 0 {
		t.Fatalf("children left after 200 sessions: %v", kids)
	}
	// Descriptors back to what an idle server holds.
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if len(fds) > 20 {
		t.Fatalf("%d descriptors open after every session ended", len(fds))
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate"), 0o644)
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	busyPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	// Token files that even root cannot read (chmod 000 stops no root): a
	// FIFO, and a folder holding a file whose every read fails.
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	tokenDir := filepath.Join(dir, "tokens.d")
	os.Mkdir(tokenDir, 0o755)
	os.Symlink("/proc/self/mem", filepath.Join(tokenDir, "mem"))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing COMMAND"},
		{[]string{"--port", "x", "cat"}, 2, "port"},
		{[]string{"--port", "70000", "cat"}, 2, "--port"},
		{[]string{"--nosuch", "cat"}, 2, "nosuch"},
		{[]string{"no-such-program-here"}, 2, "no-such-program-here"},
		{[]string{"--framing", "lines", "cat"}, 2, "--framing"},
		{[]string{"--maxframesize", "-1", "cat"}, 2, "--maxframesize"},
		{[]string{"--maxframesize", "1073741825", "cat"}, 2, "--maxframesize"},
		{[]string{"--header", "Bad Header", "cat"}, 2, "--header"},
		{[]string{"--origin", "http://a/b", "cat"}, 2, "--origin"},
		{[]string{"--loglevel", "loud", "cat"}, 2, "--loglevel"},
		{[]string{"--ssl", "cat"}, 2, "--sslcert"},
		{[]string{"--ssl", "--sslcert", filepath.Join(dir, "cert.pem"), "--sslkey", filepath.Join(dir, "cert.pem"), "cat"}, 2, "cert.pem"},
		{[]string{"--dir", filepath.Join(dir, "nope")}, 2, "--dir"},
		{[]string{"--dir", dir, "cat"}, 2, "not COMMAND and --dir"},
		{[]string{"--devconsole", "--staticdir", dir, "cat"}, 2, "--devconsole"},
		{[]string{"--address", "127.0.0.1", "--port", busyPort, "cat"}, 1, busyPort},
		{[]string{"--tcp", "127.0.0.1:5900", "cat"}, 2, "not COMMAND and --tcp"},
		{[]string{"--tcp", "127.0.0.1", "--unix", "/x"}, 2, "--tcp and --unix"},
		{[]string{"--tcp", "127.0.0.1"}, 2, "--tcp: \"127.0.0.1\" is not host:port"},
		{[]string{"--tcp", "127.0.0.1:0"}, 2, "--tcp"},
		{[]string{"--token-file", filepath.Join(dir, "nope")}, 2, "--token-file"},
		{[]string{"--token-file", fifo}, 2, "--token-file " + fifo + ": not a regular file or a folder"},
		{[]string{"--token-file", tokenDir}, 2, "--token-file " + tokenDir + ": " + filepath.Join(tokenDir, "mem") + ": input/output error"},
		{[]string{"--host-token", "--tcp", "127.0.0.1:1"}, 2, "--host-token needs --token-file"},
		{[]string{"--host-token", "cat"}, 2, "--host-token needs --tcp"},
		{[]string{"--tcp", "127.0.0.1:1", "--passstderr"}, 2, "--passstderr"},
		{[]string{"--tcp", "127.0.0.1:1", "--proxy-protocol", "v3"}, 2, "--proxy-protocol"},
		{[]string{"--tcp", "127.0.0.1:1", "--tcp-ca", "x.pem"}, 2, "--tcp-ca needs --tcp-tls"},
		{[]string{"--tcp", "127.0.0.1:1", "--tcp-tls", "--tcp-ca", filepath.Join(dir, "cert.pem")}, 2, "no PEM certificate"},
		{[]string{"--unix", "/x.sock", "--tcp-tls"}, 2, "--tcp-servername"},
		{[]string{"--tcp", "127.0.0.1:1", "--dial-timeout", "soon"}, 2, "--dial-timeout"},
		{[]string{"--idle-timeout", "-5", "cat"}, 2, "--idle-timeout"},
		{[]string{"--trusted-proxy", "10.0.0.0/33", "cat"}, 2, "--trusted-proxy"},
		{[]string{"--allowed-host", "shell.example:443", "cat"}, 2, `--allowed-host: "shell.example:443": give the name without a port`},
		{[]string{"--trusted-proxy", "unix", "cat"}, 2, "--trusted-proxy unix needs --unixsocket"},
		{[]string{"--unixsocket", filepath.Join(dir, "ws.sock"), "--trusted-proxy", "127.0.0.1", "cat"}, 2, "--trusted-proxy 127.0.0.1: peers of --unixsocket have no address; --trusted-proxy unix trusts them"},
		{[]string{"--sslcert", "a.pem", "--sslkey", "a.key", "cat"}, 2, "--sslcert needs --ssl"},
		{[]string{"--ssl", "--sslcert", "a.pem", "--sslcert", "b.pem", "--sslkey", "a.key", "cat"}, 2, "pairs"},
		{[]string{"--ssl", "--sslcert", "a.pem", "--sslkey", "a.key", "--client-cn", "bob", "cat"}, 2, "--client-cn needs --sslca"},
		{[]string{"--basic-auth", "nocolon", "cat"}, 2, "--basic-auth"},
		{[]string{"--htpasswd", filepath.Join(dir, "nope"), "cat"}, 2, "--htpasswd"},
		{[]string{"--bearer-token-file", filepath.Join(dir, "nope"), "cat"}, 2, "--bearer-token-file"},
		{[]string{"--jwt-key", filepath.Join(dir, "cert.pem"), "cat"}, 2, "--jwt-key"},
		{[]string{"--jwt-audience", "x", "cat"}, 2, "--jwt-audience needs --jwt-key"},
		{[]string{"--basic-auth", "a:b", "--auth-fail-delay", "forever", "cat"}, 2, "--auth-fail-delay"},
		{[]string{"--pty", "--tcp", "127.0.0.1:1"}, 2, "--pty is for programs"},
		{[]string{"--pty", "--binary", "sh"}, 2, "--pty has its own framing"},
		{[]string{"--pty", "--passstderr", "sh"}, 2, "--passstderr means nothing with --pty"},
		{[]string{"--pty", "--stderr", "json", "sh"}, 2, "--stderr means nothing with --pty"},
		{[]string{"--tcp", "127.0.0.1:1", "--stderr", "json"}, 2, "--stderr is for programs"},
		{[]string{"--stderr", "loud", "cat"}, 2, `--stderr: unknown mode "loud" (want log, pass or json)`},
		{[]string{"--stderr", "json", "--binary", "cat"}, 2, "--stderr json contradicts --binary"},
		{[]string{"--stderr", "json", "--framing", "raw", "cat"}, 2, "--stderr json contradicts --framing raw"},
		{[]string{"--stderr", "json", "--framing", "binary", "cat"}, 2, "--stderr json contradicts --framing binary"},
		{[]string{"--stderr", "json", "--maxframesize", "63", "cat"}, 2, "--stderr json needs --maxframesize 64 or more"},
		{[]string{"--passstderr", "--stderr", "json", "cat"}, 2, "--passstderr (--stderr pass) contradicts --stderr json"},
		{[]string{"--passstderr", "--stderr", "log", "cat"}, 2, "--passstderr (--stderr pass) contradicts --stderr log"},
		{[]string{"--pty", "--devconsole", "sh"}, 2, "--devconsole"},
		{[]string{"--title", "x", "sh"}, 2, "--title needs --pty"},
		{[]string{"--record", dir, "sh"}, 2, "--record needs --pty"},
		{[]string{"--pty", "--record", filepath.Join(dir, "nope"), "sh"}, 2, "--record: " + filepath.Join(dir, "nope") + " is not a folder wsbridge can write"},
		{[]string{"--pty", "--index", filepath.Join(dir, "nope.html"), "sh"}, 2, "--index: open " + filepath.Join(dir, "nope.html")},
		{[]string{"--pty", "--term-option", "fontSize=big", "sh"}, 2, `--term-option: fontSize: want a number, 0 or more, got "big"`},
		{[]string{"--pty", "--term-option", "cursorStyle=blob", "sh"}, 2, `--term-option: cursorStyle: want one of block, underline, bar, got "blob"`},
		{[]string{"--pty", "--term-option", "fontsize=12", "sh"}, 2, `--term-option: "fontsize" is not an xterm.js option this page takes; it takes allowTransparency,`},
		{[]string{"--pty", "--term-option", "theme=red", "sh"}, 2, `--term-option: theme: want a JSON object`},
		{[]string{"--pty", "--term-option", "noequals", "sh"}, 2, `--term-option: want name=value, got "noequals"`},
		{[]string{"--base-path", "term", "sh"}, 2, `--base-path: "term" must be a path such as /term/`},
	} {
		inst := launch(t, tc.args...)
		select {
		case <-inst.exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running", tc.args)
		}
		out := strings.TrimSpace(inst.output())
		code := -1
		if ee, ok := inst.err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) || !strings.HasPrefix(out, "wsbridge: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line naming %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	inst := startEnv(t, []string{"WSBRIDGE_MAXFRAMESIZE=5"}, "/bin/sh", "-c", "echo 1234567")
	r := readAll(t, inst.dial("/", nil))
	if got := strings.Join(r.texts, "|"); got != "12345|67" {
		t.Fatalf("WSBRIDGE_MAXFRAMESIZE=5: got %q", got)
	}

	// A repeatable flag takes a comma-separated list from its variable.
	inst = startEnv(t, []string{"WSBRIDGE_SUBPROTOCOL=one,two"}, "/bin/cat")
	if got := negotiate(t, inst, "two"); got != "two" {
		t.Fatalf("WSBRIDGE_SUBPROTOCOL=one,two: negotiated %q", got)
	}
}

// TestIdleSessionsHoldNoThreads: a session waiting on its program must not pin
// an OS thread (os/exec's Wait would), or a few thousand sessions would hit
// Go's limit of 10,000 threads.
func TestIdleSessionsHoldNoThreads(t *testing.T) {
	idleSessionsHoldNoThreads(t, start(t, "/bin/cat"))
}

// idleSessionsHoldNoThreads opens 100 sessions of inst, a cat, and leaves
// them idle: inst must then run 50 threads at most.
func idleSessionsHoldNoThreads(t *testing.T, inst *instance) {
	t.Helper()
	const sessions = 100
	for range sessions {
		c := inst.dial("/", nil)
		c.WriteMessage(websocket.TextMessage, []byte("hi"))
		expectMessage(t, c, websocket.TextMessage, "hi")
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", inst.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var threads int
	for _, line := range strings.Split(string(status), "\n") {
		fmt.Sscanf(line, "Threads: %d", &threads)
	}
	if threads == 0 || threads > sessions/2 {
		t.Fatalf("%d threads for %d idle sessions", threads, sessions)
	}
}

func TestPassEnvAndReverseLookup(t *testing.T) {
	inst := start(t, "--passenv", "WSBRIDGE_TEST_SECRET,PATH", "--reverselookup", example("env.sh"))
	r := readAll(t, inst.dial("/", nil))
	if !slices.Contains(r.texts, "WSBRIDGE_TEST_SECRET=do-not-pass") {
		t.Errorf("--passenv did not pass WSBRIDGE_TEST_SECRET: %q", r.texts)
	}
	if !slices.Contains(r.texts, "REMOTE_HOST=localhost") {
		t.Errorf("--reverselookup: %q", r.texts)
	}
	plain := start(t, example("env.sh"))
	if r := readAll(t, plain.dial("/", nil)); !slices.Contains(r.texts, "REMOTE_HOST=127.0.0.1") {
		t.Errorf("without --reverselookup: %q", r.texts)
	}
}

func TestCloseMsGivesTimeToFinish(t *testing.T) {
	// On EOF the program needs 300ms to finish. Without --closems, SIGINT
	// comes at 100ms; with --closems 2000 it finishes and exits 0.
	script := "cat >/dev/null; sleep 0.3; echo finished"
	for _, tc := range []struct {
		closems string
		want    string
		code    int
	}{
		{"0", "", 4302},
		{"2000", "finished", 1000},
	} {
		inst := start(t, "--closems", tc.closems, "/bin/sh", "-c", script)
		c := inst.dial("/", nil)
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		r := readAll(t, c)
		if strings.Join(r.texts, "|") != tc.want || r.code != tc.code {
			t.Errorf("--closems %s: got %q close %d %q, want %q close %d", tc.closems, r.texts, r.code, r.reason, tc.want, tc.code)
		}
	}
}

func TestVersionLicenseAndLogLevel(t *testing.T) {
	for flag, want := range map[string]string{"--version": "wsbridge ", "--license": "MIT License"} {
		out, err := exec.Command(binary, flag).Output()
		if err != nil || !strings.HasPrefix(string(out), want) {
			t.Errorf("%s: %v %q", flag, err, out)
		}
	}
	// At --loglevel error neither "listening" nor the access line is written.
	// A unix socket, since no log line says which TCP port was bound.
	sock := filepath.Join(t.TempDir(), "ws.sock")
	inst := launch(t, "--loglevel", "error", "--logformat", "json", "--unixsocket", sock, "/bin/echo", "x")
	dialer := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial("unix", sock) }}
	var c *websocket.Conn
	for i := 0; c == nil && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		c, _, _ = dialer.Dial("ws://localhost/", nil)
	}
	if c == nil {
		t.Fatal("wsbridge never answered")
	}
	readAll(t, c)
	inst.stop()
	if out := inst.output(); out != "" {
		t.Errorf("--loglevel error still logged:\n%s", out)
	}
}
