//go:build unix

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/gorilla/websocket"
)

// TestSharedFromFlagsAndFile: --shared-options on the command line and
// exec.shared in a config file each serve one program to two clients: the
// second client's line reaches the program that the first one also reads,
// and its exit status reaches both.
func TestSharedFromFlagsAndFile(t *testing.T) {
	dir := t.TempDir()
	script := `echo started; read a; echo "got $a"; exit 7`
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "listen: [{port: 0}]\nroutes:\n  - path: /\n    exec:\n      command: /bin/sh\n      args: [-c, '" + script + "']\n      shared: {replay: 1}\n"})
	for name, inst := range map[string]*instance{
		"flags": start(t, "--shared-options", "replay=1", "--", "/bin/sh", "-c", script),
		"file":  launchConfig(t, filepath.Join(dir, "wsbridge.yaml")),
	} {
		a := inst.dial("/", nil)
		expectMessage(t, a, websocket.TextMessage, "started")
		b := inst.dial("/", nil)
		expectMessage(t, b, websocket.TextMessage, "started") // replayed
		if err := b.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		for who, c := range map[string]*websocket.Conn{"a": a, "b": b} {
			r := readAll(t, c)
			if len(r.texts) != 1 || r.texts[0] != "got hi" || r.code != 4007 {
				t.Errorf("%s, client %s: %q, close %d %q", name, who, r.texts, r.code, r.reason)
			}
		}
	}
}
