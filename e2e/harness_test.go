//go:build unix

// Package e2e starts the real wsbridge binary and talks to it with real
// clients. This file is the small harness every end-to-end test shares.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/procfs"
)

var (
	binary  string // the wsbridge binary under test
	repoDir string // the repository root, for examples/
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Dir(filepath.Dir(file))
	tmp, err := os.MkdirTemp("", "wsbridge-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(tmp, "wsbridge")
	args := []string{"build", "-o", binary}
	if os.Getenv("WSBRIDGE_RACE") == "1" {
		args = append(args, "-race") // the binary reports its own data races
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = repoDir
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wsbridge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// requireTool skips a test whose tool is missing, or fails it when
// WSBRIDGE_REQUIRE_ALL=1 says every tool must be there.
func requireTool(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
		t.Fatalf("%s is missing (%s) and WSBRIDGE_REQUIRE_ALL=1", path, why)
	}
	t.Skipf("%s is missing (%s); install it or see .ci/run", path, why)
}

func example(name string) string { return filepath.Join(repoDir, "examples", name) }

// instance is one running wsbridge.
type instance struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string // ws://127.0.0.1:PORT
	Host string // 127.0.0.1:PORT

	mu     sync.Mutex
	logs   []map[string]any
	raw    bytes.Buffer
	logged chan struct{} // poked on every log line
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

// start runs wsbridge with a free port and JSON logs, and waits until it
// listens. It is stopped (SIGTERM) at the end of the test.
func start(t *testing.T, args ...string) *instance {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with extra environment variables for wsbridge.
func startEnv(t *testing.T, env []string, args ...string) *instance {
	t.Helper()
	inst, err := tryStart(t, env, args...)
	if err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	return inst
}

// tryStart is startEnv that says why wsbridge did not come up instead of
// failing the test.
func tryStart(t *testing.T, env []string, args ...string) (*instance, error) {
	t.Helper()
	inst := launchEnv(t, env, append([]string{"--port", "0", "--logformat", "json"}, args...)...)
	return inst, inst.awaitListening()
}

// awaitListening waits for the "listening" line and takes the URL from it.
func (inst *instance) awaitListening() error {
	line, err := inst.awaitLog(func(m map[string]any) bool { return m["msg"] == "listening" })
	if err != nil {
		return err
	}
	url, _ := line["url"].(string)
	inst.URL = strings.TrimSuffix(url, "/")
	inst.Host = strings.TrimPrefix(inst.URL, "ws://")
	inst.Host = strings.TrimPrefix(inst.Host, "wss://")
	return nil
}

// launch runs wsbridge with exactly these arguments.
func launch(t *testing.T, args ...string) *instance {
	t.Helper()
	return launchEnv(t, nil, args...)
}

func launchEnv(t *testing.T, env []string, args ...string) *instance {
	t.Helper()
	return launchIn(t, "", env, args...)
}

// startIn is start with wsbridge's working directory set to wd.
func startIn(t *testing.T, wd string, args ...string) *instance {
	t.Helper()
	inst := launchIn(t, wd, nil, append([]string{"--port", "0", "--logformat", "json"}, args...)...)
	if err := inst.awaitListening(); err != nil {
		t.Fatalf("%v:\n%s", err, inst.output())
	}
	return inst
}

func launchIn(t *testing.T, wd string, env []string, args ...string) *instance {
	t.Helper()
	return launchCommand(t, wd, env, binary, args...)
}

// launchCommand is launchIn for a command that runs wsbridge in its own
// process (systemd-socket-activate execs it).
func launchCommand(t *testing.T, wd string, env []string, name string, args ...string) *instance {
	t.Helper()
	inst := &instance{t: t, logged: make(chan struct{}, 1), exited: make(chan struct{})}
	inst.cmd = exec.Command(name, args...)
	inst.cmd.Dir = wd
	inst.cmd.Env = append(append(os.Environ(), "WSBRIDGE_TEST_SECRET=do-not-pass"), env...)
	stderr, err := inst.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			inst.mu.Lock()
			inst.raw.Write(sc.Bytes())
			inst.raw.WriteByte('\n')
			if m != nil {
				inst.logs = append(inst.logs, m)
			}
			inst.mu.Unlock()
			select {
			case inst.logged <- struct{}{}:
			default:
			}
		}
		inst.err = inst.cmd.Wait()
		close(inst.exited)
	}()
	t.Cleanup(func() {
		inst.stop()
		if strings.Contains(inst.output(), "WARNING: DATA RACE") {
			t.Errorf("wsbridge reported a data race")
		}
		if t.Failed() {
			t.Logf("wsbridge log:\n%s", inst.output())
		}
	})
	return inst
}

func (inst *instance) output() string {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.raw.String()
}

// waitLog waits for a JSON log line that matches.
func (inst *instance) waitLog(match func(map[string]any) bool) map[string]any {
	inst.t.Helper()
	m, err := inst.awaitLog(match)
	if err != nil {
		inst.t.Fatalf("%v:\n%s", err, inst.output())
	}
	return m
}

// awaitLog is waitLog that says why it found no line instead of failing.
func (inst *instance) awaitLog(match func(map[string]any) bool) (map[string]any, error) {
	deadline := time.After(10 * time.Second)
	for seen := 0; ; {
		inst.mu.Lock()
		for ; seen < len(inst.logs); seen++ {
			if match(inst.logs[seen]) {
				m := inst.logs[seen]
				inst.mu.Unlock()
				return m, nil
			}
		}
		inst.mu.Unlock()
		select {
		case <-inst.logged:
		case <-inst.exited:
			inst.mu.Lock()
			n := len(inst.logs)
			inst.mu.Unlock()
			if seen == n {
				return nil, fmt.Errorf("wsbridge exited (%v) before the expected log line", inst.err)
			}
		case <-deadline:
			return nil, errors.New("no expected log line within 10s")
		}
	}
}

// startOnFreePort is start for arguments that name a second TCP port
// besides --port 0. The port was free a moment ago, but any process on the
// machine may take it before wsbridge binds it, so a start that fails with
// "address already in use" is tried again with a new port.
func startOnFreePort(t *testing.T, args func(port int) []string) *instance {
	t.Helper()
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		inst, err := tryStart(t, nil, args(port)...)
		if err == nil {
			return inst
		}
		if !strings.Contains(inst.output(), "address already in use") {
			t.Fatalf("%v:\n%s", err, inst.output())
		}
	}
	t.Fatal("five free ports were taken before wsbridge could bind them")
	return nil
}

// startOn is start on a port that was in use a moment ago (a server that
// stopped, whose page the browser still shows). Another process may hold
// the port for a moment (an outgoing connection's ephemeral port): it tries
// again, as a page does.
func startOn(t *testing.T, port string, args ...string) *instance {
	t.Helper()
	for try := 1; ; try++ {
		inst := launch(t, append([]string{"--port", port, "--logformat", "json"}, args...)...)
		err := inst.awaitListening()
		if err == nil {
			return inst
		}
		if try == 10 {
			t.Fatalf("cannot listen on port %s again: %v", port, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the exit; it says how long that took.
func (inst *instance) stop() time.Duration {
	began := time.Now()
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.exited:
	case <-time.After(30 * time.Second):
		_ = inst.cmd.Process.Kill()
		<-inst.exited
		inst.t.Errorf("wsbridge did not exit within 30s of SIGTERM")
	}
	return time.Since(began)
}

// dial opens a WebSocket to path on the instance.
func (inst *instance) dial(path string, header http.Header) *websocket.Conn {
	inst.t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(inst.URL+path, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		inst.t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	inst.t.Cleanup(func() { c.Close() })
	return c
}

// received is what a client saw of a session.
type received struct {
	texts  []string // text messages, in order
	binary [][]byte // binary messages, in order
	all    []string // every message in order, binary ones prefixed "bin:"
	code   int      // close code, or 1006 if the connection dropped
	reason string
}

// readAll reads messages until the connection closes.
func readAll(t *testing.T, c *websocket.Conn) received {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var r received
	for {
		mt, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.code, r.reason = ce.Code, ce.Text
			} else {
				r.code, r.reason = websocket.CloseAbnormalClosure, err.Error()
			}
			return r
		}
		if mt == websocket.BinaryMessage {
			r.binary = append(r.binary, data)
			r.all = append(r.all, "bin:"+string(data))
		} else {
			r.texts = append(r.texts, string(data))
			r.all = append(r.all, string(data))
		}
	}
}

// expectMessage reads one message and checks it.
func expectMessage(t *testing.T, c *websocket.Conn, wantType int, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading %q: %v", want, err)
	}
	if mt != wantType || string(data) != want {
		t.Fatalf("got message type %d %q, want type %d %q", mt, data, wantType, want)
	}
}

// processesWith lists live processes, other than wsbridge, whose command
// line contains marker.
func processesWith(marker string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) || bytes.HasPrefix(cmdline, []byte(binary+"\x00")) {
			continue // wsbridge itself carries the marker in its arguments
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // a zombie is dead; its reaping is checked apart
		}
		found = append(found, e.Name()+":"+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return found
}

// killProcesses kills what a failed test left running with marker.
func killProcesses(marker string) {
	for _, p := range processesWith(marker) {
		pid, _, _ := strings.Cut(p, ":")
		if n, err := strconv.Atoi(pid); err == nil {
			if p, err := os.FindProcess(n); err == nil {
				_ = p.Kill()
			}
		}
	}
}

// waitProcesses fails unless exactly n processes with marker are running
// within 10s.
func waitProcesses(t *testing.T, marker string, n int) {
	t.Helper()
	for range 500 {
		if len(processesWith(marker)) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("want %d processes with %q, found %v", n, marker, processesWith(marker))
}

// waitNoProcesses fails unless every process with marker is gone within 10s.
func waitNoProcesses(t *testing.T, marker string) {
	t.Helper()
	waitProcesses(t, marker, 0)
}

// childrenOf lists the direct children of pid, zombies included, which is
// how an unreaped child shows.
func childrenOf(pid int) []string {
	var kids []string
	for _, p := range procfs.List() {
		if p.PPID == pid {
			kids = append(kids, fmt.Sprintf("%d (%s) %c", p.PID, p.Command, p.State))
		}
	}
	return kids
}

// newMarker makes a unique sleep duration to find a test's processes by.
func newMarker() string {
	return fmt.Sprintf("1000%d.%d", os.Getpid()%1000, time.Now().UnixNano()%1000000)
}

// rawConn is a WebSocket client without a library, so a test sees frames as
// they were sent: gorilla's client refuses close codes it does not know,
// such as 1014.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, host, path string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host)
	c := &rawConn{Conn: conn, r: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: %v %v", resp, err)
	}
	return c
}

// next reads one frame (the server's are never masked nor, here, longer
// than 64 KiB).
func (c *rawConn) next() (opcode byte, payload []byte, err error) {
	var h [4]byte
	if _, err = io.ReadFull(c.r, h[:2]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err = io.ReadFull(c.r, h[2:4]); err != nil {
			return 0, nil, err
		}
		n = int(h[2])<<8 | int(h[3])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.r, payload)
	return h[0] & 0x0f, payload, err
}

// send writes one short masked frame.
func (c *rawConn) send(opcode byte, payload []byte) {
	mask := [4]byte{1, 2, 3, 4}
	frame := append([]byte{0x80 | opcode, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, _ = c.Write(frame)
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitNoChildren fails unless wsbridge has no child left, dead or alive,
// within 5s.
func waitNoChildren(t *testing.T, inst *instance) {
	t.Helper()
	pid := inst.cmd.Process.Pid
	for i := 0; len(childrenOf(pid)) > 0 && i < 250; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if kids := childrenOf(pid); len(kids) != 0 {
		t.Fatalf("children left: %v", kids)
	}
}

// escaping is a program that starts a background job and a `setsid` child
// (out of its group and session), both ignoring the ladder's SIGINT, SIGTERM
// and SIGHUP, says "started" and waits for a line.
func escaping(mark string) []string {
	return []string{"/bin/sh", "-c", "trap '' HUP INT TERM; sleep " + mark + " & setsid sleep " + mark + " & echo started; read x"}
}
