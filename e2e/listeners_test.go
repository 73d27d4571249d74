//go:build unix

package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// listeningURLs waits for n "listening" lines and returns their URLs.
func (inst *instance) listeningURLs(n int) []string {
	inst.t.Helper()
	var urls []string
	inst.waitLog(func(m map[string]any) bool {
		if m["msg"] == "listening" {
			urls = append(urls, strings.TrimSuffix(fmt.Sprint(m["url"]), "/"))
		}
		return len(urls) == n
	})
	return urls
}

// TestConfigTwoListeners: a plain listener and a TLS one with a client CA
// serve the same routes; each route's client_cn is its own (alice opens /a,
// not /b), on the plain listener too (no certificate there).
func TestConfigTwoListeners(t *testing.T) {
	ca, clients := newCA(t, "server CA"), newCA(t, "client CA")
	cert, key := ca.issue(t, "server", false)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": `listen:
  - {address: 127.0.0.1, port: 0}
  - address: 127.0.0.1
    port: 0
    tls:
      certs: [{cert: ` + cert + `, key: ` + key + `}]
      client_ca: ` + clients.File + `
routes:
  - path: /a
    exec: {command: /bin/sh, args: [-c, 'echo a $HTTPS $SSL_CLIENT_S_DN_CN']}
    auth: {client_cn: [alice]}
  - path: /b
    exec: {command: /bin/sh, args: [-c, 'echo b $HTTPS $SSL_CLIENT_S_DN_CN']}
    auth: {client_cn: [bob]}
  - path: /open
    exec: {command: /bin/sh, args: [-c, 'echo open $HTTPS']}
`})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	urls := inst.listeningURLs(2)
	plain, secure := urls[0], urls[1]
	if !strings.HasPrefix(plain, "ws://127.0.0.1:") || !strings.HasPrefix(secure, "wss://127.0.0.1:") {
		t.Fatalf("listening on %q", urls)
	}

	// open dials base+path as cn (none: no certificate) and returns the one
	// line the program wrote, or the HTTP status of a refusal.
	open := func(base, path, cn string) (string, int) {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
		if cn != "" {
			d.TLSClientConfig.Certificates = []tls.Certificate{clients.clientCert(t, cn)}
		}
		c, resp, err := d.Dial(base+path, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("%s%s as %q: %v", base, path, cn, err)
			}
			return "", resp.StatusCode
		}
		defer c.Close()
		r := readAll(t, c)
		return strings.Join(r.texts, "|"), 101
	}
	for _, tc := range []struct {
		base, path, cn string
		text           string
		status         int
	}{
		{plain, "/open", "", "open", 101},
		{plain, "/a", "", "", 403}, // no certificate on a plain listener
		{secure, "/open", "carol", "open on", 101},
		{secure, "/a", "alice", "a on alice", 101},
		{secure, "/b", "alice", "", 403},
		{secure, "/b", "bob", "b on bob", 101},
		{secure, "/a", "carol", "", 403},
	} {
		if text, status := open(tc.base, tc.path, tc.cn); text != tc.text || status != tc.status {
			t.Errorf("%s%s as %q: %q, HTTP %d; want %q, %d", tc.base, tc.path, tc.cn, text, status, tc.text, tc.status)
		}
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "client certificate refused: common name not allowed" && m["cn"] == "alice" && m["route"] == "/b"
	})
	// The TLS listener still wants a certificate from its CA.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	if c, _, err := d.Dial(secure+"/open", nil); err == nil {
		c.Close()
		t.Error("no client certificate, and the TLS listener let it in")
	}
}

// TestConfigSecondListenerBusy: a port in use on the second listener is
// exit 1 naming listen[1], and the first one (a unix socket) is not left
// behind.
func TestConfigSecondListenerBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ws.sock")
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "listen:\n  - unix: ws.sock\n  - {address: 127.0.0.1, port: " + port + "}\nroutes:\n  - {path: /, exec: {command: cat}}\n"})
	code, out := launch(t, "--config", filepath.Join(dir, "wsbridge.yaml")).exitCode(t)
	want := "wsbridge: " + filepath.Join(dir, "wsbridge.yaml") + ":3:5: listen[1]: listen on 127.0.0.1 port " + port + ": address already in use"
	if code != 1 || out != want {
		t.Errorf("exit %d, %q; want 1, %q", code, out, want)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listen[0]'s socket is left behind: %v", err)
	}
}

// TestConfigServerMaxSessions: limits.max_sessions counts the sessions
// (and CGI runs) of every route together.
func TestConfigServerMaxSessions(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"cgi/hi.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhi\\n'\n",
		"wsbridge.yaml": `limits: {max_sessions: 1}
listen: [{port: 0}]
routes:
  - {path: /x, exec: {command: cat}}
  - {path: /y/, exec: {command: cat}, cgi: cgi, max_sessions: 5}
`})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	cgi := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + inst.Host + "/y/hi.sh")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := cgi(); code != 200 || body != "hi\n" {
		t.Fatalf("the CGI script alone: HTTP %d %q", code, body)
	}
	// Its access line comes after its slot is given back.
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "http" && m["path"] == "/y/hi.sh" })
	c := inst.dial("/x", nil)
	defer c.Close()
	for _, path := range []string{"/y/", "/x"} {
		if got, body := handshake(t, inst.URL+path, nil); got != http.StatusTooManyRequests {
			t.Errorf("%s while /x is open: HTTP %d %q, want 429", path, got, body)
		}
	}
	if code, body := cgi(); code != http.StatusTooManyRequests {
		t.Errorf("the CGI script while /x is open: HTTP %d %q, want 429", code, body)
	}
}
