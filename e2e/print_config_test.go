//go:build unix

package e2e

import (
	"bytes"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// printConfig runs wsbridge print-config args, writes its output to a file
// and returns the file's path and what it said on stderr.
func printConfig(t *testing.T, args ...string) (file, stderr string) {
	t.Helper()
	var out, errs bytes.Buffer
	cmd := exec.Command(binary, append([]string{"print-config"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("print-config %q: %v\n%s", args, err, errs.String())
	}
	file = filepath.Join(t.TempDir(), "wsbridge.yaml")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, errs.String()
}

// TestPrintConfigServed: what print-config prints for a command line,
// served with --config, answers sessions as the command line does: a
// program behind Basic auth (the password from the variable stderr names,
// never from the file), and a websockify token route.
func TestPrintConfigServed(t *testing.T) {
	args := append([]string{"--port", "0", "--basic-auth", "alice:wonder land", "--auth-fail-delay", "0"}, whoami...)
	file, stderr := printConfig(t, args...)
	if !strings.Contains(stderr, "set WSBRIDGE_PASSWORD_ALICE") {
		t.Errorf("stderr does not name the password's variable: %q", stderr)
	}
	if text, _ := os.ReadFile(file); strings.Contains(string(text), "wonder land") {
		t.Errorf("the password is in the file:\n%s", text)
	}
	flags := start(t, args[2:]...)
	inst := launchEnv(t, []string{"WSBRIDGE_PASSWORD_ALICE=wonder land"}, "--config", file, "--logformat", "json")
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	for _, srv := range []*instance{flags, inst} {
		if got := attempt(t, srv, "", basic("alice", "wonder land")); got != "user=alice type=Basic authz=" {
			t.Errorf("%s, right password: %q", srv.URL, got)
		}
		if got := attempt(t, srv, "", basic("alice", "wrong")); !strings.HasPrefix(got, "401") {
			t.Errorf("%s, wrong password: %q", srv.URL, got)
		}
	}

	echoes := backend(t, "tcp", "127.0.0.1:0", echo)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("vnc: "+echoes.Addr().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, _ = printConfig(t, "--port", "0", "--token-file", tokens, "--staticdir", filepath.Dir(tokens))
	inst = launchConfig(t, file)
	c := inst.dial("/?token=vnc", nil)
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("RFB 003.008\n")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, websocket.BinaryMessage, "RFB 003.008\n")
	c.Close()
	if status, body := get(t, "http://"+inst.Host+"/tokens"); status != 200 || !strings.HasPrefix(body, "vnc: ") {
		t.Errorf("static file: %d %q", status, body)
	}
}

// TestPrintConfigTerminal: a ttyd-style line's file serves the terminal:
// its page, and a shell that answers.
func TestPrintConfigTerminal(t *testing.T) {
	args := []string{"--pty", "--title", "T", "--readonly", "--term-option", "fontSize=20", "--term-option", `theme={"background":"#101010"}`, "/bin/sh"}
	file, _ := printConfig(t, append([]string{"--port", "0"}, args...)...)
	inst := launchConfig(t, file)
	flags := start(t, args...)
	_, want := get(t, "http://"+flags.Host+"/terminal.json")
	if status, got := get(t, "http://"+inst.Host+"/terminal.json"); status != 200 || got != want || !strings.Contains(want, `"fontSize":20`) {
		t.Errorf("terminal.json %d %s, the flags' %s", status, got, want)
	}
	file, _ = printConfig(t, "--port", "0", "--pty", "/bin/sh")
	inst = launchConfig(t, file)
	c := inst.dial("/", nil)
	defer c.Close()
	sendJSON(t, c, map[string]any{"type": "size", "cols": 80, "rows": 24})
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7))x\r")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "42x")
}

// TestPrintConfigTLS: a TLS command line with client certificates narrowed
// to a name becomes a listener's tls and the route's auth.client_cn.
func TestPrintConfigTLS(t *testing.T) {
	ca, clients := newCA(t, "server CA"), newCA(t, "client CA")
	cert, key := ca.issue(t, "server", false)
	file, _ := printConfig(t, "--port", "0", "--ssl", "--sslcert", cert, "--sslkey", key, "--sslca", clients.File, "--client-cn", "bob",
		"/bin/sh", "-c", "echo $SSL_CLIENT_S_DN_CN")
	inst := launchConfig(t, file)
	dial := func(certs ...tls.Certificate) (received, error) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}
		c, _, err := d.Dial(inst.URL+"/", nil)
		if err != nil {
			return received{}, err
		}
		defer c.Close()
		return readAll(t, c), nil
	}
	if r, err := dial(clients.clientCert(t, "bob")); err != nil || len(r.texts) != 1 || r.texts[0] != "bob" {
		t.Errorf("bob: %q %v", r.texts, err)
	}
	if _, err := dial(clients.clientCert(t, "alice")); err == nil {
		t.Error("client_cn bob let alice in")
	}
}

// TestPrintConfigRefusals: print-config refuses what the server refuses,
// with its message and exit code 2, and prints nothing.
func TestPrintConfigRefusals(t *testing.T) {
	for _, args := range [][]string{
		{"--tcp", "nope"},
		{"--pty", "--binary", "sh"},
		{"--readonly", "cat"},
	} {
		server := launch(t, args...)
		code, want := server.exitCode(t)
		var out, errs bytes.Buffer
		cmd := exec.Command(binary, append([]string{"print-config"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || code != 2 || strings.TrimSpace(errs.String()) != want || out.Len() > 0 {
			t.Errorf("print-config %q: %v, stdout %q, stderr %q; the server: %d %q", args, err, out.String(), errs.String(), code, want)
		}
	}
}
