//go:build unix

package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// writeFiles makes files (name: content) under dir, executable.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// launchConfig serves a config file (its listener on port 0) and waits
// until it listens.
func launchConfig(t *testing.T, file string, args ...string) *instance {
	t.Helper()
	inst := launch(t, append([]string{"--config", file, "--logformat", "json"}, args...)...)
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	return inst
}

// exitCode waits for wsbridge to exit and returns its exit code and output.
func (inst *instance) exitCode(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-inst.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("wsbridge is still running")
	}
	code := -1
	if ee, ok := inst.err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	} else if inst.err == nil {
		code = 0
	}
	return code, strings.TrimSpace(inst.output())
}

// TestConfigManyRoutes: one config file, one port, four routes with their
// own backends and auth, and the refusals between them.
func TestConfigManyRoutes(t *testing.T) {
	echoes := backend(t, "tcp", "127.0.0.1:0", echo)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"term.password": "wonder land\n",
		"echo.tokens":   "alice s3cr3t-echo\n",
		"api/hello.sh":  "#!/bin/sh\nread name\necho \"hello, $name\"\n",
		"site/a.txt":    "static bytes\n",
		"wsbridge.yaml": `listen:
  - port: 0
defaults:
  auth: {fail_delay: 0s}
routes:
  - path: /term/
    pty: {command: /bin/sh}
    auth:
      fail_delay: 0s
      basic: [{user: ann, password_file: term.password}]
  - path: /api/
    exec: {dir: api}
  - path: /echo
    tcp: {target: ` + echoes.Addr().String() + `}
    max_sessions: 1
    auth: {bearer_token_file: echo.tokens, fail_delay: 0s}
  - path: /site/
    static: site
    exec: {command: cat}
`,
	})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))

	// The terminal: type a command, read its output.
	c := inst.dial("/term/", basic("ann", "wonder land"))
	sendJSON(t, c, map[string]any{"type": "size", "cols": 80, "rows": 24})
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7))x\r")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "42x")
	c.Close()

	// A script from the folder, by Python's websocket-client when it is
	// here, else by Go's client.
	api := inst.dial("/api/hello.sh", nil)
	if err := api.WriteMessage(websocket.TextMessage, []byte("config")); err != nil {
		t.Fatal(err)
	}
	if r := readAll(t, api); len(r.texts) != 1 || r.texts[0] != "hello, config" || r.code != 1000 {
		t.Fatalf("/api/hello.sh: %q, close %d", r.texts, r.code)
	}
	if _, err := os.Stat("/usr/lib/python3/dist-packages/websocket/__init__.py"); err == nil {
		if out := runPython(t, "import sys, websocket\nws = websocket.create_connection(sys.argv[1])\nws.send('py')\nprint(ws.recv())\n", inst.URL+"/api/hello.sh"); out != "hello, py" {
			t.Fatalf("python: %q", out)
		}
	}

	// The echo route with its token; the token opens nothing else.
	e := inst.dial("/echo", bearer("s3cr3t-echo"))
	if err := e.WriteMessage(websocket.BinaryMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = e.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := e.ReadMessage(); err != nil || string(msg) != "ping" {
		t.Fatalf("/echo: %q %v", msg, err)
	}
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/term/", bearer("s3cr3t-echo"), 401}, // another route's token
		{"/term/", nil, 401},
		{"/echo", nil, 401},
		{"/echo", basic("ann", "wonder land"), 401}, // another route's password
		{"/nothing", nil, 404},
		{"/echo", bearer("s3cr3t-echo"), 429}, // max_sessions 1, and e is open
		{"/api/hello.sh", nil, 101},           // other routes are not limited by it
	} {
		if got, body := handshake(t, inst.URL+tc.path, tc.header); got != tc.want {
			t.Errorf("%s: HTTP %d %q, want %d", tc.path, got, body, tc.want)
		}
	}
	e.Close()

	// Static files on their route; the terminal's page on its own.
	for path, want := range map[string]string{"/site/a.txt": "static bytes\n", "/term/terminal.css": ""} {
		resp, err := http.Get("http://" + inst.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || (want != "" && string(body) != want) {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
}

// TestConfigRefusals: a bad file, a flag beside --config, a port in use:
// each one line and its exit code.
func TestConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	good := "routes:\n  - path: /\n    exec: {command: cat}\nlisten:\n  - port: 0\n"
	writeFiles(t, dir, map[string]string{
		"good.yaml":  good,
		"bad.yaml":   "listen:\n  - port: 0\nroutes:\n  - path: /\n    exec: {command: cat, framin: line}\n",
		"busy.yaml":  "listen:\n  - address: 127.0.0.1\n    port: " + strconv.Itoa(busyPort) + "\nroutes:\n  - path: /\n    exec: {command: cat}\n",
		"redir.yaml": "listen:\n  - address: 127.0.0.1\n    port: 0\n    redirect_port: " + strconv.Itoa(busyPort) + "\nroutes:\n  - path: /\n    exec: {command: cat}\n",
	})
	file := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", file("bad.yaml")}, 2, "wsbridge: " + file("bad.yaml") + ":5:26: routes[0].exec.framin: unknown key (did you mean framing?)"},
		{[]string{"--config", file("good.yaml"), "--port", "8080"}, 2, "wsbridge: --port goes into the config file with --config"},
		{[]string{"--config", file("good.yaml"), "cat"}, 2, `wsbridge: COMMAND "cat" goes into the config file with --config (a route's exec or pty)`},
		{[]string{"--config", file("good.yaml"), "--loglevel", "loud"}, 2, `wsbridge: --loglevel: "loud" is not one of`},
		{[]string{"--config", file("redir.yaml")}, 1, "wsbridge: " + file("redir.yaml") + ":4:20: listen[0].redirect_port: listen on 127.0.0.1 port " + strconv.Itoa(busyPort) + ": address already in use"},
		{[]string{"--config", file("busy.yaml")}, 1, "wsbridge: " + file("busy.yaml") + ":2:5: listen[0]: listen on 127.0.0.1 port " + strconv.Itoa(busyPort)},
	} {
		code, out := launch(t, tc.args...).exitCode(t)
		if code != tc.code || !strings.HasPrefix(out, tc.want) || strings.Count(out, "\n") > 0 {
			t.Errorf("%v: exit %d, %q; want %d, %q", tc.args, code, out, tc.code, tc.want)
		}
	}
	// A flag's variable counts as the flag; WSBRIDGE_CONFIG as --config.
	code, out := launchEnv(t, []string{"WSBRIDGE_CONFIG=" + file("good.yaml"), "WSBRIDGE_IDLE_TIMEOUT=5m"}).exitCode(t)
	if want := "wsbridge: --idle-timeout goes into the config file with --config (WSBRIDGE_IDLE_TIMEOUT is set)"; code != 2 || out != want {
		t.Errorf("WSBRIDGE_IDLE_TIMEOUT: exit %d, %q; want 2, %q", code, out, want)
	}
}

// TestConfigExampleServed: examples/wsbridge.yaml, beside the files it
// names, answers a script's session (its port made 0).
func TestConfigExampleServed(t *testing.T) {
	text, err := os.ReadFile(example("wsbridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(text), "  - port: 8080 ", "  - port: 0    ", 1)
	if yaml == string(text) {
		t.Fatal("the example's listener is not on port 8080 any more: update this test")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"wsbridge.yaml": yaml,
		"term.password": "a long passphrase\n",
		"ssh.tokens":    "alice 0123456789abcdef0123456789abcdef\n",
		"api/hello.sh":  "#!/bin/sh\necho hello\n",
	})
	requireTool(t, "/usr/share/novnc", "Debian package novnc: the example's static folder")
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	if r := readAll(t, inst.dial("/api/hello.sh", nil)); len(r.texts) != 1 || r.texts[0] != "hello" {
		t.Fatalf("/api/hello.sh: %q", r.texts)
	}
	if got, _ := handshake(t, inst.URL+"/term/", nil); got != 401 {
		t.Errorf("/term/ without the password: HTTP %d", got)
	}
}

// TestConfigTLSAndSockets: a TLS listener with client certificates, routes
// to a program, a unix socket and a token file's target; each route's
// client_cn is its own.
func TestConfigTLSAndSockets(t *testing.T) {
	ca, clients := newCA(t, "server CA"), newCA(t, "client CA")
	cert, key := ca.issue(t, "server", false)
	dir := t.TempDir()
	sock := filepath.Join(dir, "echo.sock")
	backend(t, "unix", sock, echo)
	writeFiles(t, dir, map[string]string{
		"targets": "tok: unix_socket:" + sock + "\n",
		"wsbridge.yaml": `listen:
  - port: 0
    tls:
      certs: [{cert: ` + cert + `, key: ` + key + `}]
      client_ca: ` + clients.File + `
routes:
  - path: /env
    exec: {command: /bin/sh, args: [-c, 'echo $HTTPS $SSL_CLIENT_S_DN_CN']}
    auth: {client_cn: [alice]}
  - path: /sock
    unix: {target: echo.sock}
    auth: {client_cn: [bob]}
  - path: /tokens
    tokens: {file: targets}
`,
	})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	if !strings.HasPrefix(inst.URL, "wss://") {
		t.Fatalf("listening on %s", inst.URL)
	}
	dial := func(cn, path string) (*websocket.Conn, error) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{clients.clientCert(t, cn)}}}
		c, _, err := d.Dial(inst.URL+path, nil)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	c, err := dial("alice", "/env")
	if err != nil {
		t.Fatal(err)
	}
	if r := readAll(t, c); len(r.texts) != 1 || r.texts[0] != "on alice" {
		t.Fatalf("/env: %q", r.texts)
	}
	for _, path := range []string{"/sock", "/tokens?token=tok"} {
		c, err := dial("bob", path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.WriteMessage(websocket.BinaryMessage, []byte("over "+path)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "over "+path {
			t.Fatalf("%s: %q %v", path, msg, err)
		}
	}
	if _, err := dial("carol", "/env"); err == nil {
		t.Error("carol, in no route's client_cn, got in")
	}
	if _, err := dial("bob", "/env"); err == nil {
		t.Error("bob, in another route's client_cn, got in")
	}
}

// TestConfigACME: a config file's listener gets its certificate from Pebble
// by HTTP-01, answered on its redirect_port.
func TestConfigACME(t *testing.T) {
	for range 3 { // ports picked free may be taken meanwhile
		httpPort, tlsPort := freePort(t, "tcp"), freePort(t, "tcp")
		ca := startPebble(t, httpPort, tlsPort)
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"wsbridge.yaml": `listen:
  - port: 0
    redirect_port: ` + strconv.Itoa(httpPort) + `
    tls:
      acme: {domains: [wsbridge.test], directory: '` + ca.directory + `', cache: acme}
routes:
  - path: /
    exec: {command: /bin/cat}
`})
		inst := launchEnv(t, []string{"SSL_CERT_FILE=" + ca.caFile}, "--config", filepath.Join(dir, "wsbridge.yaml"), "--logformat", "json",
			"--loglevel", "debug") // a failure then shows what Pebble's HTTP-01 requests got
		if err := inst.awaitListening(); err != nil {
			if strings.Contains(inst.output(), "address already in use") {
				continue
			}
			t.Fatalf("%v\n%s", err, inst.output())
		}
		acmeSession(t, inst, "wsbridge.test", ca.roots)
		if entries, _ := os.ReadDir(filepath.Join(dir, "acme")); len(entries) == 0 {
			t.Error("nothing was kept in the cache, acme beside the file")
		}
		return
	}
	t.Fatal("no free ports for wsbridge and Pebble after 3 tries")
}

// TestConfigLogFromFile: the file's log format holds without --logformat
// (the other tests' --logformat json overrides the example's text).
func TestConfigLogFromFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "log: {format: json, level: debug}\nlisten: [{port: 0}]\nroutes:\n  - {path: /, exec: {command: /bin/cat}}\n"})
	inst := launch(t, "--config", filepath.Join(dir, "wsbridge.yaml"))
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("no JSON listening line: %v\n%s", err, inst.output())
	}
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("json"))
	expectMessage(t, c, websocket.TextMessage, "json")
}
