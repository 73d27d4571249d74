//go:build unix

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
)

// TestSIGHUPKeepsServing: a hangup (a closed terminal, a reload by habit)
// is logged and ignored; live sessions go on and new ones open.
func TestSIGHUPKeepsServing(t *testing.T) {
	inst := start(t, "/bin/cat")
	c := inst.dial("/", nil)
	defer c.Close()
	if err := inst.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	inst.waitLog(func(m map[string]any) bool { return strings.HasPrefix(m["msg"].(string), "SIGHUP ignored") })
	c.WriteMessage(websocket.TextMessage, []byte("after the hangup"))
	expectMessage(t, c, websocket.TextMessage, "after the hangup")
	other := inst.dial("/", nil)
	other.WriteMessage(websocket.TextMessage, []byte("a new session"))
	expectMessage(t, other, websocket.TextMessage, "a new session")
	other.Close()
	inst.stop()
	if inst.err != nil {
		t.Errorf("exit after SIGTERM: %v", inst.err)
	}
}

// TestFaviconIsNotFound: a browser asking an endpoint for its icon gets
// 404, not 426 "connect with a WebSocket client".
func TestFaviconIsNotFound(t *testing.T) {
	for _, args := range [][]string{{"/bin/cat"}, {"--pty", "/bin/sh"}, {"--tcp", "127.0.0.1:1"}} {
		inst := start(t, args...)
		if code, _ := get(t, "http://"+inst.Host+"/favicon.ico"); code != http.StatusNotFound {
			t.Errorf("%v: /favicon.ico %d, want 404", args, code)
		}
	}
}

// TestStartupSaysWhatToOpen: the page's http:// URL for a terminal, the dev
// console or static files, and the endpoint under --base-path.
func TestStartupSaysWhatToOpen(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		msg, want string // want follows "scheme://host:port"
	}{
		{[]string{"--pty", "--base-path", "/term", "/bin/sh"}, "open in a browser", "/term/"},
		{[]string{"--devconsole", "/bin/cat"}, "open in a browser", "/"},
		{[]string{"--staticdir", t.TempDir(), "/bin/cat"}, "open in a browser", "/"},
		{[]string{"--base-path", "/app/", "/bin/cat"}, "WebSocket endpoint", "/app/"},
	} {
		inst := start(t, tc.args...)
		line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == tc.msg })
		scheme := "ws://"
		if tc.msg == "open in a browser" {
			scheme = "http://"
		}
		if got := line["url"]; got != scheme+inst.Host+tc.want {
			t.Errorf("%v: %s %v, want %s", tc.args, tc.msg, got, scheme+inst.Host+tc.want)
		}
	}
}

// TestPlainRequestsAreLogged: files, refusals and 404s get an access line
// with status, bytes, duration and the user, without the query.
func TestPlainRequestsAreLogged(t *testing.T) {
	dir := tree(t, map[string]string{"hello.txt": "hello, world\n"})
	inst := start(t, "--staticdir", dir, "--basic-auth", "ann:secret", "--auth-fail-delay", "0s", "/bin/cat")
	for _, tc := range []struct {
		path, user string
		status     int
	}{
		{"/hello.txt?access_token=hidden", "ann", 200},
		{"/missing.txt", "ann", 404},
		{"/hello.txt", "", 401},
	} {
		req, _ := http.NewRequest("GET", "http://"+inst.Host+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		path, _, _ := strings.Cut(tc.path, "?")
		line := inst.waitLog(func(m map[string]any) bool {
			return m["msg"] == "http" && m["path"] == path && m["status"] == float64(tc.status)
		})
		if line["method"] != "GET" || line["user"] != tc.user || line["bytes"] != float64(len(body)) || line["duration"] == nil || !strings.HasPrefix(fmt.Sprint(line["client"]), "127.0.0.1:") {
			t.Errorf("%s: access line %v (body %d bytes)", tc.path, line, len(body))
		}
	}
	if strings.Contains(inst.output(), "hidden") {
		t.Error("the query (and its token) reached the log")
	}
}

// TestMaxFrameSizeZero: websocketd's --maxframesize 0 (no limit) takes a
// message past the 1 MiB default.
func TestMaxFrameSizeZero(t *testing.T) {
	inst := start(t, "--maxframesize", "0", "/bin/cat")
	c := inst.dial("/", nil)
	defer c.Close()
	big := strings.Repeat("x", 3<<20)
	if err := c.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, websocket.TextMessage, big)
}

// TestOneWriteIsOneMessage: a program's single 10,000-byte write arrives as
// one message with --binary and --framing raw, as websocketd sends one
// message per read (the output buffer starts at 4 KiB).
func TestOneWriteIsOneMessage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ten-thousand")
	if err := os.WriteFile(file, []byte(strings.Repeat("a", 10000)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, framing := range []string{"binary", "raw"} {
		inst := start(t, "--framing", framing, "/bin/dd", "if="+file, "bs=10000", "count=1", "status=none")
		r := readAll(t, inst.dial("/", nil))
		var sizes []int
		for _, m := range r.all {
			sizes = append(sizes, len(strings.TrimPrefix(m, "bin:")))
		}
		if len(sizes) != 1 || sizes[0] != 10000 || r.code != 1000 {
			t.Errorf("--framing %s: messages of %v bytes, close %d; want one of 10000", framing, sizes, r.code)
		}
	}
}
