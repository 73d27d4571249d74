//go:build unix

package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// Debian's python3-websocket is the websocket-client library; these are the
// two examples from its documentation, pointed at wsbridge.

const pythonShortLived = `
import sys, websocket
ws = websocket.create_connection(sys.argv[1])
print(ws.recv())
ws.send("Python")
print(ws.recv())
ws.close()
print("closed", ws.status if hasattr(ws, "status") else "")
`

const pythonLongLived = `
import sys, websocket
events = []
def on_open(ws):
    events.append("open")
def on_message(ws, message):
    events.append("message:" + message)
def on_close(ws, code, reason):
    events.append("close:%s:%s" % (code, reason))
app = websocket.WebSocketApp(sys.argv[1], on_open=on_open, on_message=on_message, on_close=on_close)
app.run_forever()
print("\n".join(events))
`

func runPython(t *testing.T, script, url string) string {
	t.Helper()
	requireTool(t, "/usr/lib/python3/dist-packages/websocket/__init__.py", "Debian package python3-websocket")
	out, err := exec.Command("/usr/bin/python3", "-c", script, url).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPythonCreateConnection(t *testing.T) {
	inst := start(t, example("greeter.sh"))
	out := runPython(t, pythonShortLived, inst.URL+"/")
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || lines[0] != "Who are you?" || lines[1] != "Hello, Python!" {
		t.Fatalf("python printed:\n%s", out)
	}
}

func TestPythonWebSocketApp(t *testing.T) {
	inst := start(t, example("count.sh"), "3")
	out := runPython(t, pythonLongLived, inst.URL+"/")
	want := "open\nmessage:1\nmessage:2\nmessage:3\nclose:1000:exit 0"
	if out != want {
		t.Fatalf("python printed:\n%s\nwant:\n%s", out, want)
	}

	failing := start(t, example("exit.sh"))
	out = runPython(t, pythonLongLived, failing.URL+"/?7")
	if want := "open\nmessage:bye\nclose:4007:exit 7"; out != want {
		t.Fatalf("python printed:\n%s\nwant:\n%s", out, want)
	}
}
