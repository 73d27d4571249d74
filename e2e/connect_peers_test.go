package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWebsocketd runs Debian's websocketd (0.4.1) on a loopback port with
// the program args and returns its ws:// URL.
func startWebsocketd(t *testing.T, args ...string) string {
	t.Helper()
	requireTool(t, "/usr/bin/websocketd", "websocketd, a server other than wsbridge: package websocketd")
	for range 5 {
		port := freePort(t, "tcp")
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, ok := listeningTool(t, addr, "/usr/bin/websocketd", append([]string{"--address", "127.0.0.1", "--port", fmt.Sprint(port)}, args...)...); ok {
			return "ws://" + addr + "/"
		}
	}
	t.Fatal("websocketd did not listen on any of five free ports")
	return ""
}

// websocketd ends its program at any close frame, so connect, which it
// does not tell about the half-close, leaves the session open after the end
// of stdin: the answers arrive, then its normal close (1000) is echoed and
// connect exits 0. (Before: 4500 at once, websocketd killed the program
// before it answered and echoed 4500, and connect exited 74.)
func TestConnectWebsocketdEndOfInput(t *testing.T) {
	url := startWebsocketd(t, "sh", "-c", `while read l; do echo "got $l"; done; echo done`)
	runConnect(t, strings.NewReader("a\nb\n"), nil, "--text", url).expect(t, 0, "got a\ngot b\n")
}

// --no-close sends no close frame at the end of stdin, even to wsbridge,
// which says it takes the half-close: the server closes first (its program
// ended), and the client's close code in its log is the echo of its own.
func TestConnectNoClose(t *testing.T) {
	inst := start(t, "sh", "-c", `read l; echo "got $l"; sleep 0.2; exit 4`)
	runConnect(t, strings.NewReader("a\n"), nil, "--text", "-n", inst.URL+"/").expect(t, 4, "got a\n")
	line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	if got := line["client_close_code"]; got != line["close_code"] {
		t.Errorf("the client closed with %v; with --no-close it only echoes the server's %v", got, line["close_code"])
	}
}

// connect reaches wsbridge's --unixsocket (ws+unix:///PATH, or --unix with a
// ws:// URL for the Host header), serves a unix socket with --listen
// unix:PATH (refusing one that is in use, removing its own at the end), and
// logs in stdio mode when --loglevel asks.
func TestConnectUnixSockets(t *testing.T) {
	dir := t.TempDir()
	sock, local := filepath.Join(dir, "ws.sock"), filepath.Join(dir, "local.sock")
	server := launch(t, "--unixsocket", sock, "--logformat", "json", "/bin/cat")
	server.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })

	runConnect(t, strings.NewReader("one\n"), nil, "--text", "ws+unix://"+sock).expect(t, 0, "one\n")
	runConnect(t, strings.NewReader("two\n"), nil, "--text", "ws+unix://"+sock+":/some/path").expect(t, 0, "two\n")
	runConnect(t, strings.NewReader("three\n"), nil, "--text", "--unix", sock, "ws://localhost/").expect(t, 0, "three\n")
	r := runConnect(t, strings.NewReader("x\n"), nil, "--text", "ws+unix://"+filepath.Join(dir, "missing.sock"))
	if r.code != 69 || !strings.Contains(r.stderr, "missing.sock") {
		t.Errorf("a missing socket: exit %d, stderr %q; want 69 naming it", r.code, r.stderr)
	}
	r = runConnect(t, strings.NewReader("four\n"), nil, "--text", "--loglevel", "access", "--logformat", "json", "ws+unix://"+sock)
	r.expect(t, 0, "four\n")
	if !strings.Contains(r.stderr, `"msg":"connected"`) || !strings.Contains(r.stderr, `"msg":"closed"`) {
		t.Errorf("--loglevel access without --listen: stderr %q, want its connected and closed lines", r.stderr)
	}

	tunnels := launch(t, "connect", "--listen", "unix:"+local, "--logformat", "json", "ws+unix://"+sock)
	tunnels.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" && m["address"] == local })
	c, err := net.Dial("unix", local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "through a local socket\n")
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "through a local socket" {
		t.Fatalf("through --listen unix: %q %v", got, err)
	}
	r = runConnect(t, nil, nil, "--listen", "unix:"+local, "ws+unix://"+sock)
	if r.code != 1 || !strings.Contains(r.stderr, "listening there") {
		t.Errorf("a second --listen on a live socket: exit %d, stderr %q; want 1 and why", r.code, r.stderr)
	}
	tunnels.stop()
	if _, err := os.Lstat(local); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the listener's socket is left behind: %v", err)
	}
}
