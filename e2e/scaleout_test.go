//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clientIP is the test client's own loopback address: neither the proxy's
// (127.0.0.1, whence it connects to the instances) nor anyone else's, so a
// program that sees it sees the client and not a hop.
var clientIP = net.IPv4(127, 0, 0, 2)

// proxyPorts are the ports of a rolling restart: the proxy's, and each
// instance's WebSocket and admin ports.
type proxyPorts struct{ listen, a, b, adminA, adminB int }

// proxyConfig is an example file with its ports (8080 the proxy's, 8081
// and 8082 the instances') replaced, and with checks, the instances' admin
// ports (HAProxy's "port 9081" and "port 9082"); each must be there exactly
// once, so the example cannot drift from what is tested.
func proxyConfig(t *testing.T, name string, p proxyPorts, checks bool) string {
	t.Helper()
	data, err := os.ReadFile(example(name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	replace := map[string]string{
		"127.0.0.1:8080": "127.0.0.1:" + strconv.Itoa(p.listen),
		"127.0.0.1:8081": "127.0.0.1:" + strconv.Itoa(p.a),
		"127.0.0.1:8082": "127.0.0.1:" + strconv.Itoa(p.b),
	}
	if checks {
		replace["port 9081\n"] = "port " + strconv.Itoa(p.adminA) + "\n"
		replace["port 9082\n"] = "port " + strconv.Itoa(p.adminB) + "\n"
	}
	for from, to := range replace {
		if n := strings.Count(text, from); n != 1 {
			t.Fatalf("examples/%s has %q %d times, want once", name, from, n)
		}
		text = strings.Replace(text, from, to, 1)
	}
	return text
}

// runProxy runs a proxy in the foreground until the test ends, and waits
// until it accepts connections.
func runProxy(t *testing.T, listen int, name string, args ...string) {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // both stop at once on it
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 30s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(listen)); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept on port %d within 10s:\n%s", name, listen, out.String())
		}
	}
}

// runNginx runs Debian's nginx with examples/nginx.conf, its files in a
// folder of the test's.
func runNginx(t *testing.T, p proxyPorts) {
	dir := t.TempDir()
	conf := proxyConfig(t, "nginx.conf", p, false)
	var paths strings.Builder
	paths.WriteString("http {\n    access_log off;\n")
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&paths, "    %s_temp_path %s;\n", k, filepath.Join(dir, k))
	}
	conf = strings.Replace(conf, "http {\n", paths.String(), 1)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runProxy(t, p.listen, "/usr/sbin/nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", file,
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
}

// runHAProxy runs Debian's HAProxy with examples/haproxy.cfg, which checks
// each instance's /readyz on its admin port.
func runHAProxy(t *testing.T, p proxyPorts) {
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(proxyConfig(t, "haproxy.cfg", p, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	runProxy(t, p.listen, "/usr/sbin/haproxy", "-db", "-f", file)
}

// TestScaleOutRollingRestart: two instances behind nginx, then behind
// HAProxy, with the example configs. A client opens a session every few
// milliseconds from its own address (127.0.0.2), while each instance in
// turn is drained (SIGTERM) and started again on its port. No new session
// fails; every session ends with its program's own close (1000) or with
// 1001 (the ones held open past a drain's timeout); every program sees the
// client's address as REMOTE_ADDR, through X-Forwarded-For and
// --trusted-proxy; no program is left.
func TestScaleOutRollingRestart(t *testing.T) {
	for _, p := range []struct {
		name, path string
		run        func(t *testing.T, p proxyPorts)
	}{
		{"nginx", "/usr/sbin/nginx", runNginx},
		{"haproxy", "/usr/sbin/haproxy", runHAProxy},
	} {
		t.Run(p.name, func(t *testing.T) {
			requireTool(t, p.path, "Debian package "+p.name)
			rollingRestart(t, p.run)
		})
	}
}

// outcome is how one session of the client went.
type outcome struct {
	phase int    // the phase it was opened in
	long  bool   // held open until the server closed it
	code  int    // its close code
	err   string // why it failed; "" if it did not
}

// phases of the rolling restart, for the counts.
var phaseNames = []string{"before", "restarting a", "between", "restarting b", "after"}

func rollingRestart(t *testing.T, runProxy func(t *testing.T, p proxyPorts)) {
	if l, err := net.Listen("tcp", net.JoinHostPort(clientIP.String(), "0")); err != nil {
		t.Fatalf("this machine's loopback has no %s for the client: %v", clientIP, err)
	} else {
		l.Close()
	}
	mark := newMarker()
	t.Cleanup(func() { killProcesses(mark) })
	args := []string{"--drain-timeout", "5s", "--drain-delay", "500ms", "--trusted-proxy", "127.0.0.1", "--closems", "50",
		"--", "sh", "-c", `echo "$REMOTE_ADDR"; read x; echo "bye $x"`, mark}
	ports := []int{freePort(t, "tcp"), freePort(t, "tcp")}
	admin := []int{freePort(t, "tcp"), freePort(t, "tcp")}
	// Each instance with its admin listener, whose /readyz HAProxy checks.
	argsOf := func(i int) []string {
		return append([]string{"--admin-address", strconv.Itoa(admin[i])}, args...)
	}
	instances := []*instance{startOn(t, strconv.Itoa(ports[0]), argsOf(0)...), startOn(t, strconv.Itoa(ports[1]), argsOf(1)...)}
	listen := freePort(t, "tcp")
	runProxy(t, proxyPorts{listen: listen, a: ports[0], b: ports[1], adminA: admin[0], adminB: admin[1]})

	dialer := &websocket.Dialer{
		NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: clientIP}}).DialContext,
		HandshakeTimeout: 20 * time.Second,
	}
	url := fmt.Sprintf("ws://127.0.0.1:%d/", listen)
	var phase atomic.Int32
	var tries [5]atomic.Int32 // sessions begun in each phase
	// waitTries waits until n sessions have begun in the phase under way.
	waitTries := func(n int32) {
		t.Helper()
		p := phase.Load()
		for deadline := time.Now().Add(30 * time.Second); tries[p].Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions begun in phase %q in 30s, want %d", tries[p].Load(), phaseNames[p], n)
			}
		}
	}
	session := func(long bool) (o outcome) {
		o.phase, o.long = int(phase.Load()), long
		c, resp, err := dialer.Dial(url, nil)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			o.err = fmt.Sprintf("dial: %v (HTTP %d)", err, status)
			return o
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != clientIP.String() {
			o.err = fmt.Sprintf("REMOTE_ADDR: %q %v, want %s", msg, err, clientIP)
			return o
		}
		if !long {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
				o.err = fmt.Sprintf("write: %v", err)
				return o
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "bye x" {
				o.err = fmt.Sprintf("got %q %v, want \"bye x\"", msg, err)
				return o
			}
		}
		// Until the close; one held open waits through both restarts.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		err = nil
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		o.code = websocket.CloseAbnormalClosure
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			o.code = ce.Code
		}
		// A short session ends long before a drain's timeout: the drain
		// lets it end on its own (a shutdown at once would send 1001).
		want := websocket.CloseNormalClosure
		if long {
			want = websocket.CloseGoingAway
		}
		if o.code != want {
			o.err = fmt.Sprintf("ended with %d (%v), want %d (held open: %v)", o.code, err, want, long)
		}
		return o
	}

	// The client: a session every 5ms, one in 50 held open; at most
	// maxSessions, until the restarts are over.
	const maxSessions = 5000
	results := make(chan outcome, maxSessions)
	var sessions sync.WaitGroup
	stopClient, clientDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(clientDone)
		for i := range maxSessions {
			select {
			case <-stopClient:
				return
			case <-time.After(5 * time.Millisecond):
			}
			tries[phase.Load()].Add(1)
			sessions.Go(func() { results <- session(i%50 == 0) })
		}
	}()
	defer func() { // on a failure too: no goroutine outlives the test
		select {
		case <-stopClient:
		default:
			close(stopClient)
		}
		<-clientDone
	}()
	served := func(inst *instance) { inst.waitLog(msgIs("session")) }
	served(instances[0])
	served(instances[1])
	waitTries(100)

	refused := make([]int, 2)
	for i := range instances {
		phase.Store(int32(1 + 2*i))
		old := instances[i]
		old.signal(syscall.SIGTERM)
		old.waitExit(60 * time.Second)
		old.waitLog(msgIs("draining: refusing new requests with 503"))
		refused[i] = len(logsWith(old, "session refused: draining"))
		instances[i] = startOn(t, strconv.Itoa(ports[i]), argsOf(i)...)
		served(instances[i]) // the proxy sends it sessions again
		phase.Store(int32(2 + 2*i))
		waitTries(100)
	}
	close(stopClient)
	<-clientDone
	// The last sessions held open end with the instances' drains.
	for _, inst := range instances {
		inst.signal(syscall.SIGTERM)
	}
	for _, inst := range instances {
		inst.waitExit(60 * time.Second)
	}
	sessions.Wait()
	close(results)

	tried, failed := make([]int, len(phaseNames)), make([]int, len(phaseNames))
	codes := map[int]int{}
	var failures []string
	for o := range results {
		tried[o.phase]++
		codes[o.code]++
		if o.err != "" {
			failed[o.phase]++
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("[%s] %s", phaseNames[o.phase], o.err))
			}
		}
	}
	var figures []string
	total, totalFailed := 0, 0
	for i, name := range phaseNames {
		figures = append(figures, fmt.Sprintf("%s %d/%d", name, failed[i], tried[i]))
		total += tried[i]
		totalFailed += failed[i]
	}
	t.Logf("sessions failed/tried: %d/%d (%s); close codes %v; upgrades refused while draining (retried by the proxy): a %d, b %d",
		totalFailed, total, strings.Join(figures, ", "), codes, refused[0], refused[1])
	if totalFailed > 0 {
		t.Errorf("%d of %d sessions failed, the first ones:\n%s", totalFailed, total, strings.Join(failures, "\n"))
	}
	if tried[1] == 0 || tried[3] == 0 {
		t.Errorf("no session was tried during a restart: %v", tried)
	}
	waitNoProcesses(t, mark)
}

// logsWith lists inst's log lines with message msg.
func logsWith(inst *instance, msg string) []map[string]any {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	var found []map[string]any
	for _, m := range inst.logs {
		if m["msg"] == msg {
			found = append(found, m)
		}
	}
	return found
}
