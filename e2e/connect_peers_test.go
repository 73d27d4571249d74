package e2e

import (
	"fmt"
	"strings"
	"testing"
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
