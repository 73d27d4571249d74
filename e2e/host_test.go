//go:build unix

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// hostStatus is the status of a handshake, and of a plain GET, that name
// host in their Host header (and a same-origin Origin, as a page there sends).
func hostStatus(t *testing.T, inst *instance, host string) (ws, plain int) {
	t.Helper()
	h := http.Header{"Host": {host}, "Origin": {"http://" + host}}
	ws, _ = handshakeStatus(t, inst.URL+"/", h)
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(inst.URL, "ws")+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return ws, resp.StatusCode
}

// TestHostNamesAgainstRebinding: a Host the server does not answer to gets
// 421 before anything starts, for upgrades and plain pages alike, however
// its Origin agrees; localhost, IP literals and --allowed-host names pass.
func TestHostNamesAgainstRebinding(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	script := "touch " + ran + "; exec cat"
	inst := start(t, "--devconsole", "/bin/sh", "-c", script)
	port := inst.Host[strings.LastIndexByte(inst.Host, ':')+1:]
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port, "localhost.evil.example:" + port, "evil.example.:" + port} {
		ws, plain := hostStatus(t, inst, host)
		if ws != http.StatusMisdirectedRequest || plain != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: upgrade %d, page %d; want 421 for both", host, ws, plain)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("a refused Host started the program")
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "host rejected: not a name this server answers to (see --allowed-host)" && m["host"] == "evil.example:"+port
	})
	for _, host := range []string{"localhost:" + port, "LOCALHOST.:" + port, "app.localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "10.1.2.3:" + port} {
		if ws, plain := hostStatus(t, inst, host); ws != 101 || plain != 200 {
			t.Errorf("Host %q: upgrade %d, page %d; want 101 and 200", host, ws, plain)
		}
	}

	named := start(t, "--allowed-host", "Evil.Example", "--allowed-host", "*.corp.example", "/bin/cat")
	for host, want := range map[string]int{"evil.example:80": 101, "a.corp.example": 101, "a.b.corp.example": 101, "corp.example": 421, "other.example": 421} {
		if got, _ := hostStatus(t, named, host); got != want {
			t.Errorf("--allowed-host list, Host %q: %d, want %d", host, got, want)
		}
	}

	anyHost := start(t, "--allowed-host", "*", "/bin/cat")
	if got, _ := hostStatus(t, anyHost, "evil.example"); got != 101 {
		t.Errorf("--allowed-host '*': %d", got)
	}
	anyHost.waitLog(func(m map[string]any) bool {
		return m["level"] == "WARN" && strings.Contains(fmt.Sprint(m["msg"]), "DNS rebinding")
	})
}

// TestHostNamesOfHostTokens: with --host-token the tokens are names the
// server answers to; an unknown name is refused by the token lookup on an
// upgrade (404, as websockify does) and by the Host check on a page.
func TestHostNamesOfHostTokens(t *testing.T) {
	a := backend(t, "tcp", "127.0.0.1:0", says("A"))
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "VM-A.example: "+a.Addr().String()+"\n")
	inst := start(t, "--token-file", file, "--host-token")
	for host, want := range map[string][2]int{"vm-a.example:6080": {101, 426}, "evil.example": {404, 421}} {
		if ws, plain := hostStatus(t, inst, host); ws != want[0] || plain != want[1] {
			t.Errorf("Host %q: upgrade %d, page %d; want %v", host, ws, plain, want)
		}
	}
}

// TestHostNamesOfCertificates: the names of the TLS certificates are names
// the server answers to, without --allowed-host.
func TestHostNamesOfCertificates(t *testing.T) {
	ca := newCA(t, "host CA")
	cert, key := ca.issue(t, "app", false, "app.test", "*.apps.test")
	inst := start(t, "--ssl", "--sslcert", cert, "--sslkey", key, "/bin/cat")
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "app.test"}}
	for host, want := range map[string]int{"app.test": 101, "one.apps.test": 101, "other.test": 421, "apps.test": 421} {
		c, resp, err := d.Dial(inst.URL+"/", http.Header{"Host": {host}})
		switch {
		case err == nil:
			c.Close()
			if want != 101 {
				t.Errorf("Host %q: 101, want %d", host, want)
			}
		case resp == nil:
			t.Fatalf("Host %q: %v", host, err)
		case resp.StatusCode != want:
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// rebindingPage is a hostile page: once its name points at this machine,
// its script loads the server's page and opens a terminal session, types a
// command and collects what comes back, as it would send it home.
const rebindingPage = `<!doctype html><title>evil</title><script>
window.seen = [];
window.attack = function () {
  seen = [];
  fetch("/").then(r => seen.push("page:" + r.status), () => seen.push("page:error"));
  const ws = new WebSocket("ws://" + location.host + "/");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    seen.push("open");
    ws.send(JSON.stringify({type: "size", cols: 80, rows: 24}));
    ws.send(new TextEncoder().encode("echo REBOUND-$((6*7))\r"));
  };
  ws.onmessage = e => { if (typeof e.data !== "string") seen.push("out:" + new TextDecoder().decode(e.data)); };
  ws.onclose = e => seen.push("close:" + e.code);
};
</script>`

// TestDNSRebindingInChromium: a page on evil.example whose name resolves
// to 127.0.0.1 (as a rebinding DNS server would make it, after the page
// loaded from the attacker's server on the same port) cannot reach
// wsbridge --pty bash there; with --allowed-host evil.example, the same page
// can, which shows that the Host check is what stops it.
func TestDNSRebindingInChromium(t *testing.T) {
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	attacker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, rebindingPage)
	})}
	go attacker.Serve(l)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://evil.example:"+port+"/")); err != nil {
		t.Fatal(err)
	}
	attacker.Close()

	bash := []string{"--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i"}
	inst := startOn(t, port, bash...)
	seen := attack(t, ctx, "close:", "REBOUND-42")
	if strings.Contains(seen, "open") || strings.Contains(seen, "REBOUND-42") || !strings.Contains(seen, "page:421") {
		t.Fatalf("the rebound page reached wsbridge: %s", seen)
	}
	inst.waitLog(func(m map[string]any) bool {
		return m["msg"] == "host rejected: not a name this server answers to (see --allowed-host)"
	})
	inst.stop()

	startOn(t, port, append([]string{"--allowed-host", "evil.example"}, bash...)...)
	if seen := attack(t, ctx, "REBOUND-42"); !strings.Contains(seen, "page:200") {
		t.Fatalf("with --allowed-host evil.example: %s", seen)
	}
}

// attack runs the rebinding page's attack and returns what it saw once the
// page has answered and what it saw contains one of wants.
func attack(t *testing.T, ctx context.Context, wants ...string) string {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`attack(), true`)); err != nil {
		t.Fatal(err)
	}
	var any []string
	for _, w := range wants {
		any = append(any, `seen.join(" ").includes(`+jsString(w)+`)`)
	}
	err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`(`+strings.Join(any, " || ")+`) && seen.some(s => s.startsWith("page:"))`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	seen, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`seen.join(" ")`))
	if err != nil {
		t.Fatalf("waiting for %q: %v; the page saw %s", wants, err, seen)
	}
	return seen
}
