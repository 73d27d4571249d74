//go:build unix

package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
)

// hangUp sends wsbridge SIGHUP.
func (inst *instance) hangUp(t *testing.T) {
	t.Helper()
	if err := inst.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// reloadedWith waits for the "reloaded" line that lists route ("name
// /path").
func (inst *instance) reloadedWith(route string) {
	inst.t.Helper()
	inst.waitLog(func(m map[string]any) bool {
		routes, _ := m["routes"].([]any)
		return m["msg"] == "reloaded" && slices.Contains(routes, any(route))
	})
}

// status is what a WebSocket handshake on path gets: 101, or the refusal's
// status.
func (inst *instance) status(t *testing.T, path string, header http.Header) int {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(inst.URL+path, header)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode
}

// TestConfigReload: SIGHUP serves the rewritten file to new requests (a
// route removed, one added, one's credentials changed) while a session of
// the removed route goes on and ends with its own close code; a broken file
// is logged with its line and changes nothing.
func TestConfigReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	writeFiles(t, dir, map[string]string{
		"one.password": "one\n",
		"two.password": "two\n",
		"wsbridge.yaml": `listen:
  - port: 0
routes:
  - path: /x
    name: x
    exec: {command: /bin/sh, args: [-c, 'read l; echo "x got $l"; exit 3']}
  - path: /z
    name: z
    exec: {command: cat}
    auth: {fail_delay: 0s, basic: [{user: ann, password_file: one.password}]}
`,
	})
	inst := launchConfig(t, file)
	x := inst.dial("/x", nil)
	defer x.Close()

	replace(t, file, []byte(`listen:
  - port: 0
routes:
  - path: /y
    name: y
    exec: {command: cat}
  - path: /z
    name: z
    exec: {command: cat}
    auth: {fail_delay: 0s, basic: [{user: ann, password_file: two.password}]}
`))
	inst.hangUp(t)
	inst.reloadedWith("y /y")

	y := inst.dial("/y", nil)
	y.WriteMessage(websocket.TextMessage, []byte("on y"))
	expectMessage(t, y, websocket.TextMessage, "on y")
	y.Close()
	if got := inst.status(t, "/x", nil); got != http.StatusNotFound {
		t.Errorf("/x after the reload: %d, want 404", got)
	}
	if got := inst.status(t, "/z", basic("ann", "one")); got != http.StatusUnauthorized {
		t.Errorf("/z with the old password: %d, want 401", got)
	}
	if got := inst.status(t, "/z", basic("ann", "two")); got != http.StatusSwitchingProtocols {
		t.Errorf("/z with the new password: %d, want 101", got)
	}
	// The removed route's session goes on to its program's exit status.
	x.WriteMessage(websocket.TextMessage, []byte("late"))
	if r := readAll(t, x); !slices.Equal(r.texts, []string{"x got late"}) || r.code != 4003 {
		t.Errorf("the session of /x: %q, close %d; want x got late and 4003", r.texts, r.code)
	}

	// A broken file: the error names its line; /y still serves.
	replace(t, file, []byte("listen:\n  - port: 0\nroutes:\n  - path: /w\n    exec: {command: cat}\n    max_sesions: 3\n"))
	inst.hangUp(t)
	failed := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "reload failed; the config in force stays" })
	if failed["level"] != "ERROR" || !strings.Contains(fmt.Sprint(failed["err"]), file+":6:") {
		t.Errorf("reload failed line: %v, want an error at %s:6", failed, file)
	}
	if got := inst.status(t, "/y", nil); got != http.StatusSwitchingProtocols {
		t.Errorf("/y after a broken file: %d, want 101", got)
	}
	if got := inst.status(t, "/w", nil); got != http.StatusNotFound {
		t.Errorf("/w of the broken file: %d, want 404", got)
	}
	inst.stop()
	if inst.err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", inst.err, inst.output())
	}
}

// TestConfigReloadStorm: 50 SIGHUPs while the file changes and clients
// connect leave a server that serves the last file, with no process or
// descriptor left over.
func TestConfigReloadStorm(t *testing.T) {
	marker := newMarker()
	t.Cleanup(func() { killProcesses(marker) })
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	config := func(name string) []byte {
		return []byte(`listen:
  - port: 0
routes:
  - path: /` + name + `
    name: ` + name + `
    exec: {command: /bin/sh, args: [-c, 'cat; : ` + marker + `']}
  - path: /echo
    name: echo
    headers: {all: {X-Generation: ` + name + `}}
    exec: {command: /bin/sh, args: [-c, 'cat; : ` + marker + `']}
`)
	}
	replace(t, file, config("g0"))
	inst := launchConfig(t, file)
	pid := inst.cmd.Process.Pid
	fdsBefore := openFDs(t, pid)

	done := make(chan struct{})
	var clients sync.WaitGroup
	stopClients := sync.OnceFunc(func() { close(done); clients.Wait() })
	defer stopClients() // before the instance stops, on a failure too
	for range 4 {
		clients.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				c, _, err := websocket.DefaultDialer.Dial(inst.URL+"/echo", nil)
				if err != nil {
					t.Errorf("/echo during the reloads: %v", err)
					return
				}
				c.WriteMessage(websocket.TextMessage, []byte("hi"))
				if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
					t.Errorf("echo during the reloads: %q %v", msg, err)
				}
				c.Close()
			}
		})
	}
	for i := 1; i <= 50; i++ {
		name := fmt.Sprintf("g%d", i)
		if i == 50 {
			name = "last"
		}
		replace(t, file, config(name))
		inst.hangUp(t)
	}
	inst.reloadedWith("last /last")
	stopClients()

	c, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := resp.Header.Get("X-Generation"); g != "last" {
		t.Errorf("X-Generation %q after the storm, want last", g)
	}
	c.Close()
	if got := inst.status(t, "/last", nil); got != http.StatusSwitchingProtocols {
		t.Errorf("/last: %d", got)
	}
	if got := inst.status(t, "/g1", nil); got != http.StatusNotFound {
		t.Errorf("/g1 after the storm: %d, want 404", got)
	}
	waitNoProcesses(t, marker)
	waitFor(t, "wsbridge's descriptors to return to what they were", func() bool {
		return openFDs(t, pid) <= fdsBefore
	})
	inst.stop()
	if inst.err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", inst.err, inst.output())
	}
}

// TestConfigReloadCertificate: a reload that names another certificate
// serves it to the next handshake; one whose certificate does not load is
// refused with the key's line, and the certificate in use stays.
func TestConfigReloadCertificate(t *testing.T) {
	ca := newCA(t, "config reload CA")
	first, firstKey := ca.issue(t, "first", false)
	second, secondKey := ca.issue(t, "second", false)
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	config := func(cert, key string) []byte {
		return []byte(`listen:
  - port: 0
    tls:
      certs: [{cert: ` + cert + `, key: ` + key + `}]
routes:
  - {path: /, name: cat, exec: {command: cat}}
`)
	}
	replace(t, file, config(first, firstKey))
	inst := launchConfig(t, file)
	cfg := &tls.Config{RootCAs: ca.Pool}
	if cn := peerCN(t, inst.Host, cfg); cn != "first" {
		t.Fatalf("serving %q, want first", cn)
	}
	d := websocket.Dialer{TLSClientConfig: cfg}
	old, _, err := d.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	replace(t, file, config(second, secondKey))
	inst.hangUp(t)
	inst.reloadedWith("cat /")
	if cn := peerCN(t, inst.Host, cfg); cn != "second" {
		t.Errorf("after the reload serving %q, want second", cn)
	}
	old.WriteMessage(websocket.TextMessage, []byte("still here"))
	expectMessage(t, old, websocket.TextMessage, "still here")

	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	replace(t, file, config(garbage, firstKey))
	inst.hangUp(t)
	failed := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "reload failed; the config in force stays" })
	if e := fmt.Sprint(failed["err"]); !strings.Contains(e, file+":4:") || !strings.Contains(e, "listen[0].tls") {
		t.Errorf("reload failed: %q, want listen[0].tls at %s:4", e, file)
	}
	if cn := peerCN(t, inst.Host, cfg); cn != "second" {
		t.Errorf("after a failed reload serving %q, want second still", cn)
	}
}

// TestConfigReloadListenerNeedsRestart: a reload that adds a listener and
// changes the header timeout and the log says, in one warning, that they
// need a restart, and keeps serving where it listened; the routes change.
func TestConfigReloadListenerNeedsRestart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	replace(t, file, []byte("listen:\n  - port: 0\nroutes:\n  - {path: /a, name: a, exec: {command: cat}}\n"))
	inst := launchConfig(t, file)
	replace(t, file, []byte("listen:\n  - port: 0\n  - unix: "+filepath.Join(dir, "sock")+"\ntimeouts: {header: 5s}\nlog: {level: debug}\nroutes:\n  - {path: /b, name: b, exec: {command: cat}}\n"))
	inst.hangUp(t)
	inst.reloadedWith("b /b")
	warn := inst.waitLog(func(m map[string]any) bool {
		return strings.HasPrefix(fmt.Sprint(m["msg"]), "reload: these keys changed but need a restart")
	})
	if warn["keys"] != "listen[1], timeouts.header, log" || warn["level"] != "WARN" {
		t.Errorf("restart warning: %v, want keys listen[1], timeouts.header, log", warn)
	}
	if _, err := os.Stat(filepath.Join(dir, "sock")); err == nil {
		t.Error("the new unix listener was bound without a restart")
	}
	if got := inst.status(t, "/b", nil); got != http.StatusSwitchingProtocols {
		t.Errorf("/b on the old listener: %d", got)
	}
}

// TestConfigReloadMetrics: a route that a reload adds has its series at 0
// in /metrics at once, like the routes served from the start, and scrapes
// during a burst of reloads all succeed.
func TestConfigReloadMetrics(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	const head = "admin: {address: \"127.0.0.1:0\"}\nlisten:\n  - port: 0\nroutes:\n  - path: /a\n    name: a\n    exec: {command: cat}\n"
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": head})
	inst := launchConfig(t, file)
	url := inst.adminURL()
	const added = `wsbridge_sessions_total{kind="exec",route="b"}`
	_, text := scrape(t, url+"metrics")
	if metricValue(text, `wsbridge_sessions_total{kind="exec",route="a"}`) != 0 || metricValue(text, added) != -1 {
		t.Fatalf("before the reload, want route a at 0 and no route b:\n%s", text)
	}

	replace(t, file, []byte(head+"  - path: /b\n    name: b\n    exec: {command: cat}\n"))
	var scrapes sync.WaitGroup
	done := make(chan struct{})
	scrapes.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if code, _ := scrape(t, url+"metrics"); code != http.StatusOK {
				t.Errorf("a scrape during reloads: %d", code)
				return
			}
		}
	})
	for range 5 {
		inst.hangUp(t)
	}
	inst.reloadedWith("b /b")
	close(done)
	scrapes.Wait()
	awaitMetrics(t, url, map[string]float64{added: 0})
	inst.stop()
	if inst.err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", inst.err, inst.output())
	}
}
