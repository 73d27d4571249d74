//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// connectRun is one finished `wsbridge connect` in stdio mode.
type connectRun struct {
	stdout, stderr string
	code           int
}

// runConnect runs `wsbridge connect ARGS...` with stdin and waits for it
// (at most a minute).
func runConnect(t *testing.T, stdin io.Reader, env []string, args ...string) connectRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"connect"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	r := connectRun{stdout: out.String(), stderr: errs.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("wsbridge connect %q did not end within a minute; stderr:\n%s", args, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		t.Errorf("wsbridge connect reported a data race:\n%s", r.stderr)
	}
	return r
}

func (r connectRun) expect(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Fatalf("exit %d, stdout %q; want exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, code, stdout, r.stderr)
	}
}

// The remote program's exit status is connect's; the reply that follows
// the end of stdin (a half-close) arrives whole.
func TestConnectExitStatus(t *testing.T) {
	script := `n=$(wc -c); echo "read $n bytes"; case $1 in kill) kill -KILL $$;; *) exit $1;; esac`
	inst := start(t, "--binary", "--url-args", "sh", "-c", script, "sh")
	for _, tc := range []struct {
		arg       string
		code      int
		killed    bool
		wantError string
	}{
		{arg: "0", code: 0},
		{arg: "1", code: 1},
		{arg: "42", code: 42},
		{arg: "kill", code: 128 + 9, wantError: "the remote program was killed: signal 9"},
	} {
		r := runConnect(t, strings.NewReader("hello\nworld\n"), nil, inst.URL+"/?arg="+tc.arg)
		r.expect(t, tc.code, "read 12 bytes\n")
		if tc.wantError == "" && r.stderr != "" {
			t.Errorf("exit %s: stderr %q, want nothing (a remote status is passed on quietly)", tc.arg, r.stderr)
		}
		if !strings.Contains(r.stderr, tc.wantError) {
			t.Errorf("exit %s: stderr %q, want %q", tc.arg, r.stderr, tc.wantError)
		}
	}
}

// A remote job that works on after the end of its input (longer than the
// signal ladder's first step, or the TCP bridge's grace after a plain close)
// runs to its end: connect's close says "end of input", not "gone".
func TestConnectRemoteJobOutlivesItsInput(t *testing.T) {
	job := start(t, "--binary", "sh", "-c", "wc -c; sleep 1.5; echo done; exit 5")
	runConnect(t, strings.NewReader("twelve bytes"), nil, job.URL+"/").expect(t, 5, "12\ndone\n")

	slow := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		time.Sleep(1500 * time.Millisecond)
		fmt.Fprintf(c, "read %d bytes\n", n)
	})
	tcp := start(t, "--tcp", slow.Addr().String())
	runConnect(t, strings.NewReader("twelve bytes"), nil, tcp.URL+"/").expect(t, 0, "read 12 bytes\n")
}

// --text sends each line as a text message and prints each message on a
// line, against the exec bridge's line framing.
func TestConnectTextMode(t *testing.T) {
	inst := start(t, "/bin/cat")
	r := runConnect(t, strings.NewReader("one\ntwo words\r\n\nlast without newline"), nil, "--text", inst.URL+"/")
	r.expect(t, 0, "one\ntwo words\n\nlast without newline\n")
}

// Headers, credentials, origin and subprotocol reach the server.
func TestConnectHeadersAndCredentials(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, "s3cret-token\n")
	serverTokens := filepath.Join(dir, "tokens")
	writeFile(t, serverTokens, "alice s3cret-token\n")
	inst := start(t, "--bearer-token-file", serverTokens, "--basic-auth", "bob:pw",
		"--origin", "https://app.example", "--subprotocol", "chat.v1", example("env.sh"))

	for name, creds := range map[string][]string{
		"basic":        {"--basic-auth", "bob:pw"},
		"bearer":       {"--bearer-token", "s3cret-token"},
		"bearer file":  {"--bearer-token-file", tokenFile},
		"bearer env":   nil, // WSBRIDGE_CONNECT_BEARER_TOKEN below
		"header":       {"-H", "Authorization: Bearer s3cret-token"},
		"URL userinfo": nil,
	} {
		url, env := inst.URL+"/", []string(nil)
		switch name {
		case "bearer env":
			env = []string{"WSBRIDGE_CONNECT_BEARER_TOKEN=s3cret-token"}
		case "URL userinfo":
			url = strings.Replace(inst.URL, "ws://", "ws://bob:pw@", 1) + "/"
		}
		args := append(append([]string{"--text", "-H", "X-Trace: abc, def", "--origin", "https://app.example", "--subprotocol", "chat.v1"}, creds...), url)
		r := runConnect(t, strings.NewReader(""), env, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d, stderr %s", name, r.code, r.stderr)
		}
		for _, want := range []string{"HTTP_X_TRACE=abc, def", "HTTP_ORIGIN=https://app.example", "HTTP_SEC_WEBSOCKET_PROTOCOL=chat.v1"} {
			if !strings.Contains(r.stdout, want+"\n") {
				t.Errorf("%s: the program did not see %q in:\n%s", name, want, r.stdout)
			}
		}
	}

	for name, args := range map[string][]string{
		"no credentials": {inst.URL + "/"},
		"wrong password": {"--basic-auth", "bob:nope", inst.URL + "/"},
		"wrong origin":   {"--basic-auth", "bob:pw", "--origin", "https://evil.example", inst.URL + "/"},
	} {
		r := runConnect(t, strings.NewReader(""), nil, args...)
		if r.code != 77 || !strings.Contains(r.stderr, "answered 40") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want 77 and one line naming the 401 or 403", name, r.code, r.stderr)
		}
	}
}

// Each failure on the way is one line on stderr and its own exit status.
func TestConnectErrors(t *testing.T) {
	refused := closedAddr(t)
	noBackend := start(t, "--tcp", closedAddr(t))
	based := start(t, "--base-path", "/app/", "/bin/cat")
	busy := start(t, "--maxforks", "1", "/bin/cat")
	held := busy.dial("/", nil) // takes busy's one session
	_ = held.WriteMessage(1, []byte("hold"))
	expectMessage(t, held, 1, "hold")
	ca := newCA(t, "connect errors CA")
	cert, key := ca.issue(t, "server", false)
	secure := start(t, "--ssl", "--sslcert", cert, "--sslkey", key, "/bin/cat")
	other := newCA(t, "someone else")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refused", []string{"ws://" + refused + "/?access_token=s3cret"}, 69, "ws://" + refused + "/?...: dial tcp"},
		{"no such host", []string{"ws://no-such-host.invalid/"}, 69, "no-such-host.invalid"},
		{"backend down", []string{noBackend.URL + "/"}, 68, "502 Bad Gateway"},
		{"not found", []string{based.URL + "/elsewhere"}, 76, "404 Not Found"},
		{"busy", []string{busy.URL + "/"}, 75, "429 Too Many Requests"},
		{"untrusted", []string{secure.URL + "/"}, 78, "certificate"},
		{"other CA", []string{"--ca", other.File, secure.URL + "/"}, 78, "certificate"},
		{"wrong name", []string{"--ca", ca.File, "--servername", "elsewhere.example", secure.URL + "/"}, 78, "elsewhere.example"},
		{"plain TLS to ws", []string{"ws" + strings.TrimPrefix(secure.URL, "wss") + "/"}, 76, ""},
		{"usage: no URL", nil, 2, "missing URL"},
		{"usage: scheme", []string{"ftp://x/"}, 2, "want a ws:// or wss:// URL"},
		{"usage: flag after URL", []string{secure.URL + "/", "--text"}, 2, "flags go before the URL"},
		{"usage: tls on ws", []string{"--ca", ca.File, "ws://" + refused + "/"}, 2, "--ca needs a wss:// URL"},
		{"usage: two credentials", []string{"--basic-auth", "a:b", "--bearer-token", "t", "ws://" + refused + "/"}, 2, "--basic-auth and --bearer-token"},
		{"usage: bad header", []string{"-H", "no colon", "ws://" + refused + "/"}, 2, "--header"},
		{"usage: handshake header", []string{"-H", "Upgrade: h2c", "ws://" + refused + "/"}, 2, "--header: Upgrade is the handshake's own"},
		{"usage: token file", []string{"--bearer-token-file", filepath.Join(t.TempDir(), "missing"), "ws://" + refused + "/"}, 2, "--bearer-token-file"},
		{"usage: bad ping", []string{"--ping", "often", "ws://" + refused + "/"}, 2, "--ping"},
		{"usage: proxy", []string{"--proxy", "socks://x", "ws://" + refused + "/"}, 2, "--proxy"},
		{"usage: listen", []string{"--listen", "nohost:port", "ws://" + refused + "/"}, 2, "--listen"},
		{"usage: max-tunnels", []string{"--max-tunnels", "5", "ws://" + refused + "/"}, 2, "--max-tunnels needs --listen"},
		{"usage: no tunnels", []string{"--listen", "0", "--max-tunnels", "0", "ws://" + refused + "/"}, 2, "--max-tunnels: must be at least 1"},
		{"usage: missing CA file", []string{"--ca", "/nonexistent.pem", secure.URL + "/"}, 2, "--ca /nonexistent.pem"},
	} {
		r := runConnect(t, strings.NewReader("x"), nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", tc.name, r.code, r.stderr, tc.code, tc.want)
		}
	}

	// The same server, trusted, works; --insecure works and says so loudly.
	runConnect(t, strings.NewReader("x"), nil, "--ca", ca.File, secure.URL+"/").expect(t, 0, "x")
	r := runConnect(t, strings.NewReader("x"), nil, "--insecure", secure.URL+"/")
	r.expect(t, 0, "x")
	if !strings.Contains(r.stderr, "WARNING: --insecure") {
		t.Errorf("--insecure said nothing on stderr: %q", r.stderr)
	}
}

// The bridge's 1014 (its backend reset the connection), which
// gorilla/websocket refuses as a close code, exits 68 with the bridge's
// reason; --once's 503 to a second client exits 75 (busy).
func TestConnectBackendFailedAndBusy(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_, _ = io.WriteString(c, "partial")
		_, _ = c.Read(make([]byte, 1)) // the client's go-ahead
		_ = c.(*net.TCPConn).SetLinger(0)
	}) // closing with linger 0 resets
	inst := start(t, "--tcp", l.Addr().String())
	r := runConnect(t, strings.NewReader("!"), nil, inst.URL+"/")
	if r.code != 68 || r.stdout != "partial" || !strings.Contains(r.stderr, "backend reset") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("backend reset: exit %d, stdout %q, stderr %q; want 68 and one line naming the reset", r.code, r.stdout, r.stderr)
	}

	once := start(t, "--once", "/bin/cat")
	held := once.dial("/", nil) // takes the one session
	_ = held.WriteMessage(1, []byte("hold"))
	expectMessage(t, held, 1, "hold")
	r = runConnect(t, strings.NewReader("x"), nil, once.URL+"/")
	if r.code != 75 || !strings.Contains(r.stderr, "503 Service Unavailable") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("--once: exit %d, stderr %q; want 75 and one line naming the 503", r.code, r.stderr)
	}
}

// A client certificate is presented when the server asks for one.
func TestConnectClientCertificate(t *testing.T) {
	ca := newCA(t, "connect CA")
	cert, key := ca.issue(t, "server", false, "wsb.test")
	clients := newCA(t, "connect clients")
	clientCert, clientKey := clients.issue(t, "laptop", true)
	inst := start(t, "--ssl", "--sslcert", cert, "--sslkey", key, "--sslca", clients.File, example("env.sh"))

	r := runConnect(t, strings.NewReader(""), nil, "--text", "--ca", ca.File, "--servername", "wsb.test",
		"--cert", clientCert, "--key", clientKey, inst.URL+"/")
	if r.code != 0 || !strings.Contains(r.stdout, "SSL_CLIENT_S_DN_CN=laptop\n") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = runConnect(t, strings.NewReader(""), nil, "--ca", ca.File, inst.URL+"/")
	if r.code != 78 {
		t.Errorf("without a client certificate: exit %d, stderr %q; want 78", r.code, r.stderr)
	}
}

// connectProcess is a running `wsbridge connect` in --text mode whose stdin
// the test holds open, so the session stays up.
type connectProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer // read after the exit
}

func startConnect(t *testing.T, args ...string) *connectProcess {
	t.Helper()
	p := &connectProcess{cmd: exec.Command(binary, append([]string{"connect", "--text"}, args...)...)}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin, p.stdout, p.cmd.Stderr = stdin, bufio.NewReader(stdout), &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); p.cmd.Process.Kill() })
	return p
}

// echo sends a line and expects it back (the server runs cat).
func (p *connectProcess) echo(t *testing.T, line string) {
	t.Helper()
	fmt.Fprintln(p.stdin, line)
	if got, err := p.stdout.ReadString('\n'); err != nil || got != line+"\n" {
		t.Fatalf("echo of %q: %q %v", line, got, err)
	}
}

// A server that stops answering pings is detected.
func TestConnectPingTimeout(t *testing.T) {
	inst := start(t, "/bin/cat")
	p := startConnect(t, "--ping", "300ms", "--ping-timeout", "1s", inst.URL+"/")
	// Pings are answered while the server runs.
	for i := range 3 {
		p.echo(t, fmt.Sprintf("still here %d", i))
		time.Sleep(700 * time.Millisecond) // more than an interval: pings go and are answered
	}
	// A stopped server keeps its socket open but answers nothing.
	if err := inst.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer inst.cmd.Process.Signal(syscall.SIGCONT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("connect did not notice a server that stopped answering pings within 30s")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 74 || !strings.Contains(p.stderr.String(), "stopped answering pings") {
		t.Fatalf("exit %v, stderr %q; want 74 and the reason", err, p.stderr.String())
	}
}

// SIGINT ends the session with 1001 (going away) and exits 130, as an
// interrupted command does.
func TestConnectInterrupted(t *testing.T) {
	inst := start(t, "/bin/cat")
	p := startConnect(t, inst.URL+"/")
	p.echo(t, "hello")
	p.cmd.Process.Signal(syscall.SIGINT)
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, stderr %q; want exit 130", err, p.stderr.String())
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["client_close_code"] == float64(1001) })
}

// listener runs `wsbridge connect --listen` on a free port and returns its
// address.
func listener(t *testing.T, args ...string) (*instance, string) {
	t.Helper()
	inst := launch(t, append([]string{"connect", "--listen", "0", "--logformat", "json"}, args...)...)
	line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })
	return inst, line["address"].(string)
}

// kvServer is a database-like backend: "SET key value" and "GET key" lines,
// answered with "OK" or the value.
func kvServer(t *testing.T) net.Listener {
	var mu sync.Mutex
	data := map[string]string{}
	return backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			mu.Lock()
			answer := "ERR"
			switch {
			case len(f) == 3 && f[0] == "SET":
				data[f[1]], answer = f[2], "OK"
			case len(f) == 2 && f[0] == "GET":
				answer = data[f[1]]
			}
			mu.Unlock()
			if _, err := io.WriteString(c, answer+"\n"); err != nil {
				return
			}
		}
	})
}

// Clients of a local port each get their own tunnel through the TCP bridge
// to a database-like server; each tunnel is logged; nothing is left open.
func TestConnectListenRoundTrips(t *testing.T) {
	db := kvServer(t)
	bridgeInst := start(t, "--tcp", db.Addr().String())
	local, addr := listener(t, bridgeInst.URL+"/")
	fdsBefore := openFDs(t, local.cmd.Process.Pid)

	const clients, rounds = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- kvClient(addr, i, rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= clients; i++ {
		local.waitLog(func(m map[string]any) bool {
			return m["msg"] == "tunnel closed" && m["tunnel"] == float64(i) && m["end"] == "closed by the server"
		})
	}
	if opened := countLogs(local, "tunnel open"); opened != clients {
		t.Errorf("%d tunnel open lines, want %d", opened, clients)
	}
	waitFor(t, "the listener's descriptors to return to what they were", func() bool {
		return openFDs(t, local.cmd.Process.Pid) == fdsBefore
	})
}

// kvClient writes and reads back rounds keys over one connection, then
// half-closes and expects the server to close too.
func kvClient(addr string, id, rounds int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for j := range rounds {
		key, value := fmt.Sprintf("k%d-%d", id, j), fmt.Sprintf("value %d of client %d", j, id)
		fmt.Fprintf(c, "SET %s %s\nGET %s\n", key, value, key)
		for _, want := range []string{"OK", value} {
			line, err := r.ReadString('\n')
			if err != nil || line != want+"\n" {
				return fmt.Errorf("client %d round %d: got %q (%v), want %q", id, j, line, err, want)
			}
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(r); err != nil || len(rest) > 0 {
		return fmt.Errorf("client %d: after its half-close got %q, %v; want EOF", id, rest, err)
	}
	return nil
}

// --max-tunnels bounds the open tunnels; one more is closed at once and
// logged; a failed dial is logged and closes only its own connection.
func TestConnectListenLimitsAndFailures(t *testing.T) {
	bridgeInst := start(t, "--tcp", backend(t, "tcp", "127.0.0.1:0", echo).Addr().String())
	local, addr := listener(t, "--max-tunnels", "2", bridgeInst.URL+"/")
	var held []net.Conn
	for i := range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "ping %d\n", i)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != fmt.Sprintf("ping %d\n", i) {
			t.Fatalf("tunnel %d: %q %v", i, line, err)
		}
		held = append(held, c)
	}
	expectNoTunnel(t, addr, 10*time.Second, "a third tunnel over --max-tunnels 2")
	local.waitLog(func(m map[string]any) bool {
		return m["msg"] == "tunnel refused: too many open" && m["max"] == float64(2)
	})

	held[0].Close()
	local.waitLog(func(m map[string]any) bool { return m["msg"] == "tunnel closed" && m["tunnel"] == float64(1) })
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	fmt.Fprintf(again, "room again\n")
	if line, err := bufio.NewReader(again).ReadString('\n'); err != nil || line != "room again\n" {
		t.Fatalf("after a tunnel ended: %q %v", line, err)
	}

	// A listener whose server refuses logs why and closes that connection.
	_, addr = listener(t, "ws://"+closedAddr(t)+"/")
	expectNoTunnel(t, addr, 20*time.Second, "a tunnel to a refused server")
}

// expectNoTunnel connects to a listener and expects the connection to end,
// within d, without a byte.
func expectNoTunnel(t *testing.T, addr string, d time.Duration, what string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(d))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("%s read %d bytes", what, n)
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")) }

func countLogs(inst *instance, msg string) int {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	n := 0
	for _, m := range inst.logs {
		if m["msg"] == msg {
			n++
		}
	}
	return n
}

func openFDs(t *testing.T, pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// startTinyproxy runs Debian's tinyproxy on a loopback port, asking for
// Basic credentials user:pass, and returns its port and log.
func startTinyproxy(t *testing.T) (int, *lockedBuffer) {
	t.Helper()
	requireTool(t, "/usr/bin/tinyproxy", "an HTTP CONNECT proxy: package tinyproxy")
	for range 5 {
		port := freePort(t, "tcp")
		config := filepath.Join(t.TempDir(), "tinyproxy.conf")
		// No ConnectPort line: CONNECT to any port (the bridge's is random).
		writeFile(t, config, fmt.Sprintf("Port %d\nListen 127.0.0.1\nAllow 127.0.0.1\nBasicAuth user pass\nTimeout 60\nMaxClients 20\nLogLevel Connect\n", port))
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if log, ok := listeningTool(t, addr, "/usr/bin/tinyproxy", "-d", "-c", config); ok {
			return port, log
		}
	}
	t.Fatal("tinyproxy did not listen on any of five free ports")
	return 0, nil
}

// Through an HTTP CONNECT proxy that asks for credentials.
func TestConnectThroughProxy(t *testing.T) {
	port, log := startTinyproxy(t)
	inst := start(t, "--binary", "sh", "-c", "cat; exit 3")
	proxy := fmt.Sprintf("http://user:pass@127.0.0.1:%d", port)

	runConnect(t, strings.NewReader("via the proxy"), nil, "--proxy", proxy, inst.URL+"/").expect(t, 3, "via the proxy")
	if want := "CONNECT " + inst.Host; !strings.Contains(log.String(), want) {
		t.Fatalf("the proxy's log has no %q:\n%s", want, log.String())
	}
	// The variable works like the flag.
	env := []string{"WSBRIDGE_CONNECT_PROXY=" + proxy}
	runConnect(t, strings.NewReader("again"), env, inst.URL+"/").expect(t, 3, "again")

	for _, tc := range []struct {
		proxy string
		code  int
		want  string
	}{
		{fmt.Sprintf("http://user:wrong@127.0.0.1:%d", port), 77, "401"},
		{fmt.Sprintf("http://127.0.0.1:%d", port), 77, "407"},
		{"http://" + closedAddr(t), 69, "connection refused"},
	} {
		r := runConnect(t, strings.NewReader("x"), nil, "--proxy", tc.proxy, inst.URL+"/")
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "wrong") {
			t.Errorf("proxy %s: exit %d, stderr %q; want %d with %q and the password hidden", tc.proxy, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// --tty attaches a terminal to a --pty endpoint: the program starts at the
// terminal's size and follows its resizes, keys go raw (Ctrl-C reaches the
// remote program, not connect), and connect exits with the program's status.
func TestConnectTTY(t *testing.T) {
	inst := start(t, "--pty", "/bin/sh")
	terminal, screen, exited := connectOnPty(t, "--tty", inst.URL+"/")
	// type writes a line until want shows up (a resize is signalled, so the
	// line typed just after it may still see the old size).
	typeUntil := func(line, want string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(screen.String(), want); time.Sleep(300 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("typed %q, no %q on the screen:\n%q", line, want, screen.String())
			}
			io.WriteString(terminal, line+"\r")
		}
	}
	typeUntil("stty size", "30 100")
	pty.Setsize(terminal, &pty.Winsize{Rows: 40, Cols: 120})
	typeUntil("stty size", "40 120")
	mark := newMarker()
	io.WriteString(terminal, "sleep "+mark+"\r")
	waitProcesses(t, "sleep\x00"+mark, 1)
	io.WriteString(terminal, "\x03") // Ctrl-C, for the remote sleep
	typeUntil("echo $((1000+337))", "1337")
	io.WriteString(terminal, "exit 3\r")
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("connect did not exit after the remote shell did:\n%q", screen.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3; screen:\n%q", err, screen.String())
	}
}

// connectOnPty starts wsbridge connect with args on a terminal of its own,
// 100x30: what it writes gathers in screen, and exited gives its end. The
// test's cleanup kills it.
func connectOnPty(t *testing.T, args ...string) (terminal *os.File, screen *lockedBuffer, exited <-chan error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"connect"}, args...)...)
	terminal, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	screen = &lockedBuffer{}
	go io.Copy(screen, terminal)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		terminal.Close()
	})
	return terminal, screen, done
}
