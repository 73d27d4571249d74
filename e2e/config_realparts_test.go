//go:build unix

package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// spkiHash is the base64 SHA-256 of a certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// TestConfigRealParts: one config file, one TLS port, and a real client on
// each route: a terminal typed into in Chromium (Basic auth), noVNC with
// Xtigervnc in Chromium (open), a script answering Python's
// websocket-client (origins of its own), ssh to a real sshd through
// `wsbridge connect` (a bearer token), static files; and the refusals
// between them.
func TestConfigRealParts(t *testing.T) {
	requireTool(t, "/usr/share/novnc/vnc_lite.html", "Debian package novnc")
	requireTool(t, "/usr/lib/python3/dist-packages/websocket/__init__.py", "Debian package python3-websocket")
	// Everything the test starts is gone after it: Chromium, sshd and the
	// `wsbridge connect` processes carry the test's temporary folder in
	// their command lines, Xtigervnc its port. Registered first, this runs
	// last, after every part has been stopped.
	tmp := filepath.Dir(t.TempDir())
	var vncPort string
	t.Cleanup(func() {
		waitNoProcesses(t, tmp)
		if vncPort != "" {
			waitNoProcesses(t, "-rfbport\x00"+vncPort+"\x00")
		}
	})
	ca := newCA(t, "realparts CA")
	cert, key := ca.issue(t, "wsbridge", false)
	// Chromium trusts this one server key, and nothing else it would not.
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, cert)))
	sshd := startSSHD(t)
	rfb := startVNC(t)
	_, vncPort, _ = strings.Cut(rfb, ":")

	const token = "0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"term.password": "wonder land\n",
		"ssh.tokens":    "alice " + token + "\n",
		"client.token":  token + "\n",
		"api/hello.sh":  "#!/bin/sh\nread name\necho \"hello, $name\"\n",
		"site/a.txt":    "static bytes\n",
		"wsbridge.yaml": `listen:
  - address: 127.0.0.1
    port: 0
    tls:
      certs: [{cert: ` + cert + `, key: ` + key + `}]
routes:
  - path: /term/
    pty: {command: /bin/bash, args: [--norc, --noprofile, -i]}
    auth:
      fail_delay: 0s
      basic: [{user: ann, password_file: term.password}]
  - path: /vnc/
    static: /usr/share/novnc
    tcp: {target: ` + rfb + `, dial_timeout: 5s}
  - path: /api/
    exec: {dir: api, framing: line}
    origins: [https://app.example.com]
  - path: /ssh
    tcp: {target: ` + sshd.Addr + `}
    auth: {bearer_token_file: ssh.tokens, fail_delay: 0s}
  - path: /site/
    static: site
    exec: {command: cat}   # a route has a backend; its files are served beside it
`,
	})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	if !strings.HasPrefix(inst.URL, "wss://127.0.0.1:") {
		t.Fatalf("listening on %s", inst.URL)
	}
	tlsConfig := &tls.Config{RootCAs: ca.Pool}

	// The refusals between the routes, and what each route's own
	// credentials or origin open.
	status := func(path string, header http.Header) int {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: tlsConfig, HandshakeTimeout: 10 * time.Second}
		c, resp, err := d.Dial(inst.URL+path, header)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		return resp.StatusCode
	}
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	for _, tc := range []struct {
		what, path string
		header     http.Header
		want       int
	}{
		{"the ssh token on the terminal", "/term/", bearer(token), 401},
		{"no credentials on the terminal", "/term/", nil, 401},
		{"the terminal's password on ssh", "/ssh", basic("ann", "wonder land"), 401},
		{"no token on ssh", "/ssh", nil, 401},
		{"the terminal's password", "/term/", basic("ann", "wonder land"), 101},
		{"another site's page on the api", "/api/hello.sh", origin("https://evil.example"), 403},
		{"the api's own site", "/api/hello.sh", origin("https://app.example.com"), 101},
		{"another site's page on noVNC", "/vnc/websockify", origin("https://evil.example"), 403},
		{"an unknown path", "/nothing", nil, 404},
	} {
		if got := status(tc.path, tc.header); got != tc.want {
			t.Errorf("%s (%s): HTTP %d, want %d", tc.what, tc.path, got, tc.want)
		}
	}

	// Static files over HTTPS.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + inst.Host + "/site/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "static bytes\n" {
		t.Errorf("GET /site/a.txt: %d %q", resp.StatusCode, body)
	}

	// Python's websocket-client over wss, trusting the test CA.
	script := fmt.Sprintf("import sys, websocket\nws = websocket.create_connection(sys.argv[1], sslopt={'ca_certs': %q})\nws.send('py')\nprint(ws.recv())\n", ca.File)
	if out := runPython(t, script, inst.URL+"/api/hello.sh"); out != "hello, py" {
		t.Errorf("python on /api/hello.sh: %q", out)
	}

	// ssh to the real sshd, through `wsbridge connect` with the token.
	marker := newMarker()
	proxy := fmt.Sprintf("ProxyCommand=%s connect --bearer-token-file %s --ca %s '%s/ssh?%s'",
		binary, filepath.Join(dir, "client.token"), ca.File, inst.URL, marker)
	ssh := exec.Command("ssh", append(sshd.options("-F", "/dev/null", "-o", proxy), currentUser(t)+"@wsbtest", "echo", "ok")...)
	if out, err := ssh.CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Errorf("ssh echo ok through /ssh: %v, output %q", err, out)
	}
	waitNoProcesses(t, marker)

	// The terminal in Chromium: Basic credentials in the page's URL, a
	// command typed and its output read.
	err = chromedp.Do(ctx,
		chromedp.Navigate("https://ann:wonder%20land@"+inst.Host+"/term/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		typeLine("echo realparts $((6*7))"),
		waitScreen("realparts 42"),
	)
	if err != nil {
		t.Fatalf("the terminal in Chromium: %v\nscreen:\n%s", err, screen(ctx))
	}
	// Ended, so that leaving the page does not ask first.
	if err := chromedp.Do(ctx, typeLine("exit"),
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-status").textContent.includes("exit 0")`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the terminal did not end: %v\nscreen:\n%s", err, screen(ctx))
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "session" && m["route"] == "/term/" && m["user"] == "ann" && m["status"] == "exit 0"
	})

	// noVNC in Chromium, to Xtigervnc, on the open route.
	err = chromedp.Do(ctx,
		chromedp.Navigate("https://"+inst.Host+"/vnc/vnc_lite.html?path=vnc/websockify"),
		chromedp.WaitVisible(`//div[@id="status"][. = "Connected to wsbridge-test"]`),
	)
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("noVNC in Chromium: %v (status %q)", err, text)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("#screen canvas").width`))
	if err != nil || width != 640 {
		t.Fatalf("noVNC's canvas is %d wide (%v), want the VNC screen's 640", width, err)
	}
	// The terminal's shell and the scripts have ended: wsbridge has no
	// child left, dead or alive.
	waitNoChildren(t, inst)
}
