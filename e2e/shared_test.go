//go:build unix

package e2e

import (
	"encoding/base64"
	"net/http"
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

// TestSharedWriters: with writers, only those users' messages reach the
// shared program; the others read its output and their messages are
// dropped, from flags and from a config file alike.
func TestSharedWriters(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": `listen: [{port: 0}]
routes:
  - path: /
    auth: {basic: [{user: alice, password: a-secret}, {user: bob, password: b-secret}]}
    exec: {command: /bin/cat, shared: {writers: [alice]}}
`})
	login := func(user, password string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
	}
	for name, inst := range map[string]*instance{
		"flags": start(t, "--basic-auth", "alice:a-secret", "--basic-auth", "bob:b-secret", "--shared-options", "writers=alice", "/bin/cat"),
		"file":  launchConfig(t, filepath.Join(dir, "wsbridge.yaml")),
	} {
		alice := inst.dial("/", login("alice", "a-secret"))
		bob := inst.dial("/", login("bob", "b-secret"))
		if err := bob.WriteMessage(websocket.TextMessage, []byte("from bob")); err != nil {
			t.Fatal(err)
		}
		// Bob's session reads his messages in order: once his close is
		// answered, "from bob" was dropped or already on its way to cat,
		// ahead of anything alice sends next.
		bob.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		if r := readAll(t, bob); len(r.texts) != 0 {
			t.Errorf("%s: bob, no writer, got %q", name, r.texts)
		}
		if err := alice.WriteMessage(websocket.TextMessage, []byte("from alice")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, alice, websocket.TextMessage, "from alice")
	}
}
