//go:build unix

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const socketActivate = "/usr/bin/systemd-socket-activate"

// activated runs wsbridge under systemd-socket-activate, which binds a
// free loopback port (its socket named fdname, unless empty) and starts
// wsbridge on the first connection; that connection is returned with the
// port's address. env holds -E settings for wsbridge.
func activated(t *testing.T, fdname string, env []string, args ...string) (*instance, net.Conn, string) {
	t.Helper()
	requireTool(t, socketActivate, "systemd's socket activation")
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		sa := []string{"--listen", addr}
		if fdname != "" {
			sa = append(sa, "--fdname="+fdname)
		}
		for _, e := range env {
			sa = append(sa, "-E", e)
		}
		inst := launchCommand(t, "", nil, socketActivate, append(append(sa, "--", binary), args...)...)
		// Until systemd-socket-activate listens, the port refuses.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if c, err := net.Dial("tcp", addr); err == nil {
				return inst, c, addr
			}
			select {
			case <-inst.exited:
			case <-time.After(20 * time.Millisecond):
				continue
			}
			break
		}
		if !strings.Contains(inst.output(), "Address already in use") {
			t.Fatalf("systemd-socket-activate did not listen on %s:\n%s", addr, inst.output())
		}
	}
	t.Fatal("five free ports were taken before systemd-socket-activate could bind them")
	return nil, nil, ""
}

// wsOver opens a WebSocket to url over the connection c.
func wsOver(t *testing.T, c net.Conn, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return c, nil }, HandshakeTimeout: 20 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// notifySocket is systemd's end of sd_notify: a datagram socket the test
// reads.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func expectNotify(t *testing.T, c *net.UnixConn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if got := string(buf[:n]); got != want {
		t.Fatalf("systemd was told %q, want %q", got, want)
	}
}

// TestSocketActivationCommandLine: the first connection to the socket
// systemd-socket-activate holds starts wsbridge, which serves it; READY=1
// comes once it listens and STOPPING=1 at SIGTERM; the program it starts
// sees neither the activation variables (though --passenv names them) nor
// the socket.
func TestSocketActivationCommandLine(t *testing.T) {
	notify, path := notifySocket(t)
	script := `echo "fds=${LISTEN_FDS-} pid=${LISTEN_PID-} names=${LISTEN_FDNAMES-} notify=${NOTIFY_SOCKET-} sockets=$(ls -l /proc/$$/fd | grep -c socket:)"; exec cat`
	inst, conn, addr := activated(t, "", []string{"NOTIFY_SOCKET=" + path},
		"--logformat", "json", "--passenv", "PATH,LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES,NOTIFY_SOCKET", "/bin/sh", "-c", script)
	ws := wsOver(t, conn, "ws://"+addr+"/")
	expectMessage(t, ws, websocket.TextMessage, "fds= pid= names= notify= sockets=0")
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, ws, websocket.TextMessage, "hi")
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" && m["url"] == "ws://"+addr+"/" })
	expectNotify(t, notify, "READY=1\nSTATUS=listening on ws://"+addr+"/")

	// A second client, on the same inherited socket.
	c2, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	expectMessage(t, c2, websocket.TextMessage, "fds= pid= names= notify= sockets=0")

	if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectNotify(t, notify, "STOPPING=1\nSTATUS=shutting down")
	if code, out := inst.exitCode(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestSocketActivationConfig: a config listener takes the socket of its
// systemd: name, the one examples/wsbridge.socket gives.
func TestSocketActivationConfig(t *testing.T) {
	unit, err := os.ReadFile(example("wsbridge.socket"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FileDescriptorName=(.+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("examples/wsbridge.socket has no FileDescriptorName=")
	}
	name := string(m[1])
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "listen:\n  - systemd: " + name + "\nroutes:\n  - path: /echo\n    exec: {command: cat}\n"})
	inst, conn, addr := activated(t, name, nil, "--config", filepath.Join(dir, "wsbridge.yaml"), "--logformat", "json")
	ws := wsOver(t, conn, "ws://"+addr+"/echo")
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, ws, websocket.TextMessage, "hi")
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" && m["url"] == "ws://"+addr+"/" })
}

// TestSocketActivationMistakes: what cannot work is a usage error that
// says why, with the config file's line and key.
func TestSocketActivationMistakes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	route := "routes:\n  - path: /\n    exec: {command: cat}\n"
	for _, tc := range []struct {
		name, config, fdname string
		args                 []string
		want                 string // %s: the socket's address
	}{
		{name: "a name systemd did not pass", config: "listen:\n  - systemd: api\n" + route, fdname: "web",
			want: file + `:2:14: listen[0].systemd: systemd passed no socket named "api": it passed web`},
		{name: "a socket no listener names", config: "listen:\n  - port: 0\n" + route,
			want: file + `:2:3: listen: systemd passed socket "unknown" (%s) and no listener names it: add one with systemd: unknown (its FileDescriptorName=)`},
		{name: "a port on the command line", args: []string{"--port", "9000", "cat"},
			want: `wsbridge: --port: wsbridge was socket-activated (LISTEN_FDS=1): it serves the sockets systemd passed, so say where to listen in the socket unit (ListenStream=) instead`},
		{name: "a redirect port on the command line", args: []string{"--redirport", "80", "cat"},
			want: `wsbridge: --redirport: wsbridge was socket-activated (LISTEN_FDS=1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.config != "" {
				writeFiles(t, dir, map[string]string{"wsbridge.yaml": tc.config})
				args = []string{"--config", file}
			}
			inst, conn, addr := activated(t, tc.fdname, nil, args...)
			defer conn.Close()
			code, out := inst.exitCode(t)
			if want := strings.ReplaceAll(tc.want, "%s", addr); code != 2 || !strings.Contains(out, want) {
				t.Fatalf("exit %d:\n%s\nwant exit 2 and %q", code, out, want)
			}
		})
	}

	// Without socket activation, a systemd: listener has no socket.
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "listen:\n  - systemd: web\n" + route})
	code, out := launch(t, "--config", file).exitCode(t)
	if want := fmt.Sprintf(`%s:2:14: listen[0].systemd: systemd passed no socket named "web": wsbridge was not socket-activated (no LISTEN_FDS)`, file); code != 2 || !strings.Contains(out, want) {
		t.Fatalf("exit %d:\n%s\nwant exit 2 and %q", code, out, want)
	}
}

// TestExampleUnits: systemd-analyze finds nothing wrong in the example
// units (with ExecStart= pointing at the binary under test).
func TestExampleUnits(t *testing.T) {
	const analyze = "/usr/bin/systemd-analyze"
	requireTool(t, analyze, "checks systemd units")
	dir := t.TempDir()
	for _, name := range []string{"wsbridge.socket", "wsbridge.service"} {
		unit, err := os.ReadFile(example(name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(unit), "/usr/local/bin/wsbridge ", binary+" ")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "wsbridge.socket"), filepath.Join(dir, "wsbridge.service")).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSocketActivationNotASocket: a passed descriptor that is not a
// listening stream socket is an error at start (exit 1) that names it.
func TestSocketActivationNotASocket(t *testing.T) {
	inst := launchCommand(t, "", []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web"}, "/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@" 3</dev/null`, binary, "cat")
	code, out := inst.exitCode(t)
	if want := `wsbridge: socket activation: socket "web" (fd 3): not a socket`; code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d:\n%s\nwant exit 1 and %q", code, out, want)
	}
}

// TestNotifyWatchdog: without socket activation too, a Type=notify
// wsbridge says READY=1, feeds WatchdogSec='s watchdog while it serves,
// and says STOPPING=1 at SIGTERM.
func TestNotifyWatchdog(t *testing.T) {
	notify, path := notifySocket(t)
	inst := startEnv(t, []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=100000"}, "--address", "127.0.0.1", "cat")
	expectNotify(t, notify, "READY=1\nSTATUS=listening on "+inst.URL+"/")
	expectNotify(t, notify, "WATCHDOG=1")
	expectNotify(t, notify, "WATCHDOG=1")
	if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_ = notify.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("waiting for STOPPING=1: %v", err)
		}
		if got := string(buf[:n]); got == "STOPPING=1\nSTATUS=shutting down" {
			break
		} else if got != "WATCHDOG=1" {
			t.Fatalf("systemd was told %q, want WATCHDOG=1 or STOPPING=1", got)
		}
	}
	if code, out := inst.exitCode(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestNotifyReload: a reload of the config file is told to systemd as
// RELOADING=1 with the monotonic clock (Type=notify-reload), then READY=1
// with the outcome, a failed one too: the old config is serving.
func TestNotifyReload(t *testing.T) {
	notify, path := notifySocket(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	const good = "listen:\n  - {address: 127.0.0.1, port: 0}\nroutes:\n  - path: /a\n    exec: {command: cat}\n"
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": good})
	inst := launchEnv(t, []string{"NOTIFY_SOCKET=" + path}, "--config", file, "--logformat", "json")
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	expectNotify(t, notify, "READY=1\nSTATUS=listening on "+inst.URL+"/")
	reloading := func() {
		t.Helper()
		_ = notify.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("waiting for RELOADING=1: %v", err)
		}
		if !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[0-9]+$`).Match(buf[:n]) {
			t.Fatalf("systemd was told %q, want RELOADING=1 and MONOTONIC_USEC", buf[:n])
		}
	}
	inst.hangUp(t)
	reloading()
	expectNotify(t, notify, "READY=1\nSTATUS=reloaded "+file)

	replace(t, file, []byte(good+"    max_sesions: 3\n"))
	inst.hangUp(t)
	reloading()
	_ = notify.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := notify.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, "READY=1\nSTATUS=reload failed; the config in force stays: "+file+":6:") {
		t.Fatalf("after a broken file systemd was told %q, want READY=1 and the error at its line", got)
	}
	if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectNotify(t, notify, "STOPPING=1\nSTATUS=shutting down")
	if code, out := inst.exitCode(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
