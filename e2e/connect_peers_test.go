//go:build unix

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startWebsocketd runs Debian's websocketd (0.4.1) on a loopback port with
// the program args and returns its ws:// URL.
func startWebsocketd(t *testing.T, args ...string) string {
	t.Helper()
	requireTool(t, "/usr/bin/websocketd", "websocketd, a server other than wsbridge: package websocketd")
	for range 5 {
		port := freePort(t, "tcp")
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, ok := listeningTool(t, addr, "/usr/bin/websocketd", append([]string{"--address", "127.0.0.1", "--port", fmt.Sprint(port)}, args...)...); ok {
			return "ws://" + addr + "/"
		}
	}
	t.Fatal("websocketd did not listen on any of five free ports")
	return ""
}

// websocketd ends its program at any close frame, so connect, which it
// does not tell about the half-close, leaves the session open after the end
// of stdin: the answers arrive, then its normal close (1000) is echoed and
// connect exits 0. (Before: 4500 at once, websocketd killed the program
// before it answered and echoed 4500, and connect exited 74.)
func TestConnectWebsocketdEndOfInput(t *testing.T) {
	url := startWebsocketd(t, "sh", "-c", `while read l; do echo "got $l"; done; echo done`)
	runConnect(t, strings.NewReader("a\nb\n"), nil, "--text", url).expect(t, 0, "got a\ngot b\n")
}

// --no-close sends no close frame at the end of stdin, even to wsbridge,
// which says it takes the half-close: the server closes first (its program
// ended), and the client's close code in its log is the echo of its own.
func TestConnectNoClose(t *testing.T) {
	inst := start(t, "sh", "-c", `read l; echo "got $l"; sleep 0.2; exit 4`)
	runConnect(t, strings.NewReader("a\n"), nil, "--text", "-n", inst.URL+"/").expect(t, 4, "got a\n")
	line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	if got := line["client_close_code"]; got != line["close_code"] {
		t.Errorf("the client closed with %v; with --no-close it only echoes the server's %v", got, line["close_code"])
	}
}

// connect reaches wsbridge's --unixsocket (ws+unix:///PATH, or --unix with a
// ws:// URL for the Host header), serves a unix socket with --listen
// unix:PATH (refusing one that is in use, removing its own at the end), and
// logs in stdio mode when --loglevel asks.
func TestConnectUnixSockets(t *testing.T) {
	dir := t.TempDir()
	sock, local := filepath.Join(dir, "ws.sock"), filepath.Join(dir, "local.sock")
	server := launch(t, "--unixsocket", sock, "--logformat", "json", "/bin/cat")
	server.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })

	runConnect(t, strings.NewReader("one\n"), nil, "--text", "ws+unix://"+sock).expect(t, 0, "one\n")
	runConnect(t, strings.NewReader("two\n"), nil, "--text", "ws+unix://"+sock+":/some/path").expect(t, 0, "two\n")
	runConnect(t, strings.NewReader("three\n"), nil, "--text", "--unix", sock, "ws://localhost/").expect(t, 0, "three\n")
	r := runConnect(t, strings.NewReader("x\n"), nil, "--text", "ws+unix://"+filepath.Join(dir, "missing.sock"))
	if r.code != 69 || !strings.Contains(r.stderr, "missing.sock") {
		t.Errorf("a missing socket: exit %d, stderr %q; want 69 naming it", r.code, r.stderr)
	}
	r = runConnect(t, strings.NewReader("four\n"), nil, "--text", "--loglevel", "access", "--logformat", "json", "ws+unix://"+sock)
	r.expect(t, 0, "four\n")
	if !strings.Contains(r.stderr, `"msg":"connected"`) || !strings.Contains(r.stderr, `"msg":"closed"`) {
		t.Errorf("--loglevel access without --listen: stderr %q, want its connected and closed lines", r.stderr)
	}

	tunnels := launch(t, "connect", "--listen", "unix:"+local, "--logformat", "json", "ws+unix://"+sock)
	tunnels.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" && m["address"] == local })
	c, err := net.Dial("unix", local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "through a local socket\n")
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "through a local socket" {
		t.Fatalf("through --listen unix: %q %v", got, err)
	}
	r = runConnect(t, nil, nil, "--listen", "unix:"+local, "ws+unix://"+sock)
	if r.code != 1 || !strings.Contains(r.stderr, "listening there") {
		t.Errorf("a second --listen on a live socket: exit %d, stderr %q; want 1 and why", r.code, r.stderr)
	}
	tunnels.stop()
	if _, err := os.Lstat(local); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the listener's socket is left behind: %v", err)
	}
}

// startSOCKS runs a SOCKS5 proxy on a loopback port: OpenSSH's dynamic
// forwarding (ssh -D) to the test's sshd. It asks for no credentials.
func startSOCKS(t *testing.T) (addr string, stop func()) {
	t.Helper()
	sshd := startSSHD(t)
	_, sshPort, _ := net.SplitHostPort(sshd.Addr)
	for range 5 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
		args := append(sshd.options("-F", "/dev/null"), "-N", "-D", addr, "-o", "ExitOnForwardFailure=yes", "-p", sshPort, currentUser(t)+"@127.0.0.1")
		log, stop := runTool(t, "/usr/bin/ssh", nil, args...)
		if answers(addr) {
			return addr, stop
		}
		stop()
		if !strings.Contains(log.String(), "in use") {
			t.Fatalf("ssh -D did not listen at %s:\n%s", addr, log.String())
		}
	}
	t.Fatal("ssh -D did not listen on any of five free ports")
	return "", nil
}

// Through a SOCKS5 proxy (--proxy socks5:// and socks5h://, credentials
// in the URL; ALL_PROXY), and the exit statuses when it fails.
func TestConnectThroughSOCKS(t *testing.T) {
	socks, stopSOCKS := startSOCKS(t)
	inst := start(t, "--binary", "sh", "-c", "cat; exit 3")
	_, port, _ := net.SplitHostPort(inst.Host)

	runConnect(t, strings.NewReader("via socks5"), nil, "--proxy", "socks5://"+socks, inst.URL+"/").expect(t, 3, "via socks5")
	// The proxy resolves the name; ssh asks for no credentials, so those
	// offered are not used.
	env := []string{"WSBRIDGE_CONNECT_PROXY=socks5h://user:pass@" + socks}
	runConnect(t, strings.NewReader("via socks5h"), env, "ws://localhost:"+port+"/").expect(t, 3, "via socks5h")

	// ALL_PROXY is used when HTTP(S)_PROXY are not, unless NO_PROXY says
	// so (loopback hosts always go direct, so a name that nothing resolves
	// shows which way it went).
	closed := closedAddr(t)
	env = []string{"HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=", "NO_PROXY=", "no_proxy=", "ALL_PROXY=socks5h://" + closed}
	r := runConnect(t, strings.NewReader("x"), env, "ws://wsbridge-test.invalid/")
	if r.code != 69 || !strings.Contains(r.stderr, "proxy socks5h://"+closed) {
		t.Errorf("ALL_PROXY: exit %d, stderr %q; want 69 naming the proxy", r.code, r.stderr)
	}
	r = runConnect(t, strings.NewReader("x"), append(env, "NO_PROXY=.invalid"), "ws://wsbridge-test.invalid/")
	if r.code != 69 || strings.Contains(r.stderr, "proxy") {
		t.Errorf("ALL_PROXY with NO_PROXY: exit %d, stderr %q; want 69 without the proxy", r.code, r.stderr)
	}

	// The proxy can't reach the server: 69, as for an HTTP proxy.
	r = runConnect(t, strings.NewReader("x"), nil, "--proxy", "socks5://"+socks, "ws://"+closedAddr(t)+"/")
	if r.code != 69 || !strings.Contains(r.stderr, "proxy socks5://"+socks) {
		t.Errorf("a server the proxy can't reach: exit %d, stderr %q; want 69 naming the proxy", r.code, r.stderr)
	}
	// No proxy there (it is gone): 69, and the password is not shown.
	stopSOCKS()
	r = runConnect(t, strings.NewReader("x"), nil, "--proxy", "socks5://user:s3cret@"+socks, inst.URL+"/")
	if r.code != 69 || !strings.Contains(r.stderr, "connection refused") || strings.Contains(r.stderr, "s3cret") {
		t.Errorf("a proxy that is gone: exit %d, stderr %q; want 69, refused, no password", r.code, r.stderr)
	}
}

// logged is a running `wsbridge connect --text --loglevel access
// --logformat json` whose stdin the test holds and whose log lines it reads.
type logged struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	mu     sync.Mutex
	lines  []string
	more   chan struct{} // poked on every line
	exited chan struct{}
}

func startLogged(t *testing.T, args ...string) *logged {
	t.Helper()
	p := &logged{more: make(chan struct{}, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"connect", "--text", "--loglevel", "access", "--logformat", "json"}, args...)...)
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin, p.stdout = stdin, bufio.NewReader(stdout)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		p.cmd.Process.Kill()
		<-p.exited
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("connect's log:\n%s", strings.Join(p.lines, "\n"))
		}
	})
	return p
}

// waitLines waits until n log lines hold s.
func (p *logged) waitLines(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		got := 0
		for _, l := range p.lines {
			if strings.Contains(l, s) {
				got++
			}
		}
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-p.more:
		case <-p.exited:
			t.Fatalf("connect exited before %d log lines with %q", n, s)
		case <-deadline:
			t.Fatalf("no %d log lines with %q within 30s", n, s)
		}
	}
}

func (p *logged) echo(t *testing.T, line string) {
	t.Helper()
	fmt.Fprintln(p.stdin, line)
	if got, err := p.stdout.ReadString('\n'); err != nil || got != line+"\n" {
		t.Fatalf("echo of %q: %q %v", line, got, err)
	}
}

// hangUps accepts connections and closes them at once, and counts them.
func hangUps(t *testing.T) (addr string, count func() int) {
	var mu sync.Mutex
	n := 0
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		mu.Lock()
		n++
		mu.Unlock()
	})
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// --reconnect: a server down at the start is dialed until it is up; a
// connection lost before the end of stdin (the server restarts) is dialed
// again and stdin goes on over it; --reconnect-max N makes N+1 tries, also
// for each tunnel of --listen.
func TestConnectReconnect(t *testing.T) {
	port := fmt.Sprint(freePort(t, "tcp"))
	p := startLogged(t, "--reconnect", "ws://127.0.0.1:"+port+"/")
	p.waitLines(t, "dial failed, trying again", 2)
	server := startOn(t, port, "/bin/cat")
	p.waitLines(t, `"msg":"connected"`, 1)
	p.echo(t, "after the server came up")

	server.stop()
	p.waitLines(t, "connection lost, dialing again", 1)
	startOn(t, port, "/bin/cat")
	p.waitLines(t, `"msg":"connected"`, 2)
	p.echo(t, "after the server came back")
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("connect after the end of stdin: %v, want exit 0", err)
	}

	addr, count := hangUps(t)
	r := runConnect(t, strings.NewReader("x"), nil, "--reconnect", "--reconnect-max", "3", "ws://"+addr+"/")
	if r.code != 76 || count() != 4 {
		t.Errorf("--reconnect-max 3: exit %d after %d tries, want 76 after 4; stderr %q", r.code, count(), r.stderr)
	}
	addr, count = hangUps(t)
	_, local := listener(t, "--reconnect", "--reconnect-max", "2", "ws://"+addr+"/")
	expectNoTunnel(t, local, 30*time.Second, "a tunnel to a server that hangs up")
	if count() != 3 {
		t.Errorf("--listen --reconnect-max 2: %d tries, want 3", count())
	}
}
