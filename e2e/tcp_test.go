//go:build unix

package e2e

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	proxyproto "github.com/pires/go-proxyproto"
)

// backend is a TCP or unix server in the test, each accepted connection
// served by handle in its own goroutine.
func backend(t *testing.T, network, address string, handle func(net.Conn)) net.Listener {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, l, handle)
}

func serveBackend(t *testing.T, l net.Listener, handle func(net.Conn)) net.Listener {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// says answers every connection with a fixed greeting, then echoes.
func says(greeting string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = io.WriteString(c, greeting)
		echo(c)
	}
}

// stream is n deterministic pseudo-random bytes, the same for every call.
func stream(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'w', 's', 'b'}), n)
}

func sum(r io.Reader) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	return [32]byte(h.Sum(nil))
}

// download reads binary messages until the close frame, hashing them; with
// rate > 0 it reads at about rate bytes per second. progress counts bytes.
func download(t *testing.T, c *websocket.Conn, rate int, progress *atomic.Int64) ([32]byte, received) {
	t.Helper()
	h := sha256.New()
	began := time.Now()
	for {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		mt, r, err := c.NextReader()
		if err != nil {
			got := received{code: websocket.CloseAbnormalClosure, reason: err.Error()}
			if ce, ok := err.(*websocket.CloseError); ok {
				got.code, got.reason = ce.Code, ce.Text
			}
			return [32]byte(h.Sum(nil)), got
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("got a message of type %d, want binary", mt)
		}
		n, _ := io.Copy(h, r)
		done := progress.Add(n)
		if rate > 0 {
			if ahead := time.Duration(done)*time.Second/time.Duration(rate) - time.Since(began); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
}

func TestTCPEchoOnAnyPath(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", echo)
	inst := start(t, "--tcp", l.Addr().String())
	for _, path := range []string{"/", "/websockify", "/some/prefix/websockify?x=1"} {
		c := inst.dial(path, nil)
		if err := c.WriteMessage(websocket.BinaryMessage, []byte("\x00hello\xff")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, c, websocket.BinaryMessage, "\x00hello\xff")
		// A text message is delivered as its bytes; what comes back is binary.
		_ = c.WriteMessage(websocket.TextMessage, []byte("text"))
		expectMessage(t, c, websocket.BinaryMessage, "text")
	}
	if got := negotiate(t, inst, "binary"); got != "binary" {
		t.Errorf("offered binary, got subprotocol %q", got)
	}
	if got := negotiate(t, inst); got != "" {
		t.Errorf("offered none, got subprotocol %q", got)
	}
}

func TestUnixSocketTarget(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	backend(t, "unix", sock, says("unix here\n"))
	inst := start(t, "--unix", sock)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.BinaryMessage, "unix here\n")
}

// TestTCPStreamByteExact sends 256 MiB from the backend at full speed; every
// byte arrives in order, then a 1000 close.
func TestTCPStreamByteExact(t *testing.T) {
	const n = 256 << 20
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) { _, _ = io.Copy(c, stream(n)) })
	inst := start(t, "--tcp", l.Addr().String())
	var got atomic.Int64
	hash, r := download(t, inst.dial("/", nil), 0, &got)
	if got.Load() != n || hash != sum(stream(n)) {
		t.Fatalf("got %d bytes (want %d), checksum match %v", got.Load(), n, hash == sum(stream(n)))
	}
	if r.code != websocket.CloseNormalClosure {
		t.Fatalf("close %d %q, want 1000", r.code, r.reason)
	}
}

// TestTCPSlowClientLosesNothing: the backend writes 32 MiB and closes long
// before a client reading at 8 MB/s has it all; the tail still arrives, then
// the close frame.
func TestTCPSlowClientLosesNothing(t *testing.T) {
	const n = 32 << 20
	var readWhenClosed atomic.Int64
	var got atomic.Int64
	readWhenClosed.Store(-1)
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
		_, _ = io.Copy(c, stream(n))
		c.Close()
		readWhenClosed.Store(got.Load())
	})
	inst := start(t, "--tcp", l.Addr().String())
	dialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	c, _, err := dialer.Dial(inst.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hash, r := download(t, c, 8<<20, &got)
	if got.Load() != n || hash != sum(stream(n)) || r.code != websocket.CloseNormalClosure {
		t.Fatalf("got %d of %d bytes, checksum match %v, close %d %q", got.Load(), n, hash == sum(stream(n)), r.code, r.reason)
	}
	if w := readWhenClosed.Load(); w < 0 || w >= n {
		t.Fatalf("the backend closed when the client had read %d bytes: the test did not hold a tail back", w)
	}
}

// TestTCPHalfClose: the client's close frame half-closes the backend, which
// still answers; the answer arrives before the close frame.
func TestTCPHalfClose(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		data, _ := io.ReadAll(c) // until the half-close
		fmt.Fprintf(c, "got %d bytes: %s", len(data), data)
	})
	inst := start(t, "--tcp", l.Addr().String())
	c := inst.dial("/", nil)
	_ = c.WriteMessage(websocket.BinaryMessage, []byte("question"))
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	r := readAll(t, c)
	if len(r.binary) != 1 || string(r.binary[0]) != "got 8 bytes: question" || r.code != websocket.CloseNormalClosure {
		t.Fatalf("got %q, close %d %q; want the answer, then 1000", r.all, r.code, r.reason)
	}
}

func TestTCPBackendResetCloses1014(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_, _ = io.WriteString(c, "partial")
		_, _ = c.Read(make([]byte, 1)) // the client's go-ahead
		_ = c.(*net.TCPConn).SetLinger(0)
	}) // closing with linger 0 resets
	inst := start(t, "--tcp", l.Addr().String())
	c := rawDial(t, inst.Host, "/")
	op, data, err := c.next()
	if err != nil || op != websocket.BinaryMessage || string(data) != "partial" {
		t.Fatalf("first frame: opcode %d %q %v", op, data, err)
	}
	c.send(websocket.BinaryMessage, []byte("!"))
	op, data, err = c.next()
	if err != nil || op != websocket.CloseMessage || len(data) < 2 {
		t.Fatalf("want a close frame, got opcode %d %q %v", op, data, err)
	}
	if code := int(data[0])<<8 | int(data[1]); code != 1014 || !strings.Contains(string(data[2:]), "reset") {
		t.Fatalf("close %d %q, want 1014 naming the reset", code, data[2:])
	}
}

// fullListener accepts nothing: with a backlog of 0 and one connection
// queued, further SYNs are dropped and a dial waits until it times out.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 2 { // fill the queue
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// handshake tries an upgrade and returns the HTTP status and body.
func handshake(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func TestTCPDialErrorsBeforeUpgrade(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closed.Close()
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		body   string
	}{
		{"refused", []string{"--tcp", closed.Addr().String()}, 502, "refused"},
		{"timeout", []string{"--tcp", fullListener(t), "--dial-timeout", "500ms"}, 504, "did not answer within 500ms"},
		{"no socket", []string{"--unix", filepath.Join(t.TempDir(), "none.sock")}, 502, "socket does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := start(t, tc.args...)
			status, body := handshake(t, inst.URL+"/websockify", nil)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("HTTP %d %q, want %d with %q", status, body, tc.status, tc.body)
			}
			if strings.Contains(body, "127.0.0.1") || strings.Contains(body, ".sock") {
				t.Fatalf("the answer %q tells the client where the backend is", body)
			}
			inst.waitLog(func(m map[string]any) bool { return m["msg"] == "backend unreachable" })
		})
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	// Write and rename, so wsbridge never reads a half-written file.
	tmp := filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// greeting dials with the token and returns the backend's first message, or
// the HTTP status of a refused handshake.
func greeting(t *testing.T, url string, header http.Header) string {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return fmt.Sprint(resp.StatusCode)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

func TestTokenFile(t *testing.T) {
	a := backend(t, "tcp", "127.0.0.1:0", says("A"))
	b := backend(t, "tcp", "127.0.0.1:0", says("B"))
	sock := filepath.Join(t.TempDir(), "u.sock")
	backend(t, "unix", sock, says("U"))
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	writeFile(t, file, "# targets\n\nvm-a: "+a.Addr().String()+"\nthis line is wrong\nvm-b:\t"+b.Addr().String()+
		"\nvm-u: unix_socket:"+sock+"\nvm-c: 127.0.0.1:99999\n")
	inst := start(t, "--token-file", file)
	for _, bad := range []string{file + ":4", file + ":7"} {
		inst.waitLog(func(m map[string]any) bool { return m["msg"] == "token file: line skipped" && m["at"] == bad })
	}
	url := inst.URL + "/websockify?token="
	for token, want := range map[string]string{"vm-a": "A", "vm-b": "B", "vm-u": "U", "vm-c": "404", "nope": "404"} {
		if got := greeting(t, url+token, nil); got != want {
			t.Errorf("token %s: got %s, want %s", token, got, want)
		}
	}
	if status, body := handshake(t, inst.URL+"/websockify", nil); status != 400 || !strings.Contains(body, "token") {
		t.Errorf("no token: HTTP %d %q, want 400 naming the token", status, body)
	}

	// An edit counts for the next connection; a live session goes on.
	live := inst.dial("/?token=vm-a", nil)
	expectMessage(t, live, websocket.BinaryMessage, "A")
	writeFile(t, file, "vm-a: "+b.Addr().String()+"\n")
	if got := greeting(t, url+"vm-a", nil); got != "B" {
		t.Errorf("after the edit, vm-a: got %s, want B", got)
	}
	if got := greeting(t, url+"vm-u", nil); got != "404" {
		t.Errorf("after the edit removed it, vm-u: got %s, want 404", got)
	}
	_ = live.WriteMessage(websocket.BinaryMessage, []byte("still here"))
	expectMessage(t, live, websocket.BinaryMessage, "still here")

	// Removing the file revokes every token.
	os.Remove(file)
	if got := greeting(t, url+"vm-a", nil); got != "404" {
		t.Errorf("after removing the file, vm-a: got %s, want 404", got)
	}
}

func TestTokenFolderAndHostToken(t *testing.T) {
	a := backend(t, "tcp", "127.0.0.1:0", says("A"))
	b := backend(t, "tcp", "127.0.0.1:0", says("B"))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "one"), "vm-a.example: "+a.Addr().String()+"\n")
	inst := start(t, "--token-file", dir, "--host-token")
	host := func(h string) http.Header { return http.Header{"Host": {h}} }
	if got := greeting(t, inst.URL+"/", host("vm-a.example:8443")); got != "A" {
		t.Errorf("Host vm-a.example: got %s, want A", got)
	}
	// A new file in the folder counts at once; ?token= does not with --host-token.
	writeFile(t, filepath.Join(dir, "two"), "# second\nvm-b.example: "+b.Addr().String()+"\n")
	if got := greeting(t, inst.URL+"/", host("vm-b.example")); got != "B" {
		t.Errorf("Host vm-b.example: got %s, want B", got)
	}
	if got := greeting(t, inst.URL+"/?token=vm-a.example", host("elsewhere")); got != "404" {
		t.Errorf("?token= with --host-token: got %s, want 404", got)
	}
}

// tlsBackend is a TLS echo server with a certificate for 127.0.0.1; it
// returns its address and the certificate's file.
func tlsBackend(t *testing.T) (addr, caFile string) {
	certFile, keyFile, _ := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	serveBackend(t, l, says("secure"))
	return l.Addr().String(), certFile
}

func TestTLSToBackend(t *testing.T) {
	addr, ca := tlsBackend(t)
	inst := start(t, "--tcp", addr, "--tcp-tls", "--tcp-ca", ca)
	if got := greeting(t, inst.URL+"/", nil); got != "secure" {
		t.Fatalf("through TLS: got %q", got)
	}
	// Verified by default: the system's CAs don't know this certificate, and
	// the name must match.
	for _, args := range [][]string{
		{"--tcp", addr, "--tcp-tls"},
		{"--tcp", addr, "--tcp-tls", "--tcp-ca", ca, "--tcp-servername", "other.example"},
	} {
		inst := start(t, args...)
		if status, body := handshake(t, inst.URL+"/", nil); status != 502 || !strings.Contains(body, "TLS") {
			t.Errorf("%v: HTTP %d %q, want 502 naming TLS", args, status, body)
		}
	}
}

// TestProxyProtocol: the backend reads the PROXY header (parsed by
// github.com/pires/go-proxyproto) and learns the client's address; through a
// trusted proxy, the address the proxy reports.
func TestProxyProtocol(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		h, err := proxyproto.Read(bufio.NewReader(c))
		if err != nil {
			fmt.Fprintf(c, "error: %v", err)
			return
		}
		fmt.Fprintf(c, "v%d %s -> %s", h.Version, h.SourceAddr, h.DestinationAddr)
	})
	for _, v := range []string{"v1", "v2"} {
		inst := start(t, "--tcp", l.Addr().String(), "--proxy-protocol", v, "--trusted-proxy", "127.0.0.0/8")
		c := inst.dial("/", nil)
		want := fmt.Sprintf("%s %s -> %s", v, c.LocalAddr(), inst.Host)
		expectMessage(t, c, websocket.BinaryMessage, want)

		c = inst.dial("/", http.Header{"X-Forwarded-For": {"203.0.113.7, 127.0.0.2"}})
		expectMessage(t, c, websocket.BinaryMessage, fmt.Sprintf("%s 203.0.113.7:0 -> %s", v, inst.Host))
	}
}

// TestProxyProtocolWithAuth: authentication changes nothing in what the
// backend learns of the client.
func TestProxyProtocolWithAuth(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		if h, err := proxyproto.Read(bufio.NewReader(c)); err == nil {
			fmt.Fprint(c, h.SourceAddr)
		}
	})
	inst := start(t, "--tcp", l.Addr().String(), "--proxy-protocol", "v2", "--basic-auth", "alice:secret")
	c := inst.dial("/", basic("alice", "secret"))
	expectMessage(t, c, websocket.BinaryMessage, c.LocalAddr().String())
}

// TestTrustedProxy: X-Forwarded-For counts only from a trusted proxy, for
// the program's REMOTE_ADDR and the access log.
func TestTrustedProxy(t *testing.T) {
	xff := http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1"},
		{[]string{"--trusted-proxy", "10.0.0.0/8"}, "127.0.0.1"},
		{[]string{"--trusted-proxy", "127.0.0.1"}, "203.0.113.7"},
		{[]string{"--trusted-proxy", "127.0.0.1,203.0.113.0/24"}, "198.51.100.1"},
	} {
		args := append(tc.args, "--address", "127.0.0.1", "/bin/sh", "-c", "echo $REMOTE_ADDR")
		inst := start(t, args...)
		r := readAll(t, inst.dial("/", xff))
		if len(r.texts) != 1 || r.texts[0] != tc.want {
			t.Errorf("%v: REMOTE_ADDR %q, want %s", tc.args, r.texts, tc.want)
		}
		inst.waitLog(func(m map[string]any) bool {
			c, _ := m["client"].(string)
			return m["msg"] == "session" && strings.HasPrefix(c, tc.want)
		})
	}
}

// TestTrustedProxyOnUnixSocket: behind a reverse proxy that reaches wsbridge
// over a unix socket, --trusted-proxy unix believes the proxy's
// X-Forwarded-For; without it the headers are ignored.
func TestTrustedProxyOnUnixSocket(t *testing.T) {
	xff := http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "@"}, // what Go says of an unnamed unix peer
		{[]string{"--trusted-proxy", "unix"}, "203.0.113.7"},
	} {
		sock := filepath.Join(t.TempDir(), "ws.sock")
		args := append(tc.args, "--unixsocket", sock, "--logformat", "json", "/bin/sh", "-c", "echo \"[$REMOTE_ADDR]\"")
		inst := launch(t, args...)
		inst.waitLog(func(m map[string]any) bool { return m["msg"] == "listening" })
		dialer := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial("unix", sock) }}
		c, _, err := dialer.Dial("ws://localhost/", xff)
		if err != nil {
			t.Fatal(err)
		}
		r := readAll(t, c)
		c.Close()
		if len(r.texts) != 1 || r.texts[0] != "["+tc.want+"]" {
			t.Errorf("%v: REMOTE_ADDR %q, want %q", tc.args, r.texts, tc.want)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", echo)
	inst := start(t, "--tcp", l.Addr().String(), "--idle-timeout", "1s")
	// Traffic keeps a session open past the timeout...
	busy := inst.dial("/", nil)
	for i := range 25 {
		msg := fmt.Sprint(i)
		_ = busy.WriteMessage(websocket.BinaryMessage, []byte(msg))
		expectMessage(t, busy, websocket.BinaryMessage, msg)
		time.Sleep(100 * time.Millisecond)
	}
	// ...and silence ends it with 1001.
	r := readAll(t, busy)
	if r.code != websocket.CloseGoingAway || r.reason != "idle timeout" {
		t.Fatalf("close %d %q, want 1001 idle timeout", r.code, r.reason)
	}
}

// TestTCPShutdown: SIGTERM sends 1001 to the client and closes the backend
// connection.
func TestTCPShutdown(t *testing.T) {
	closed := make(chan struct{})
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_, _ = io.WriteString(c, "hi")
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	})
	inst := start(t, "--tcp", l.Addr().String())
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.BinaryMessage, "hi")
	inst.stop()
	if r := readAll(t, c); r.code != websocket.CloseGoingAway {
		t.Fatalf("close %d %q, want 1001", r.code, r.reason)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend connection was not closed")
	}
}

// TestTCPNoLeftovers opens and closes many sessions, every way a session can
// end, and then wsbridge holds no more descriptors than before. No session
// starts a process.
func TestTCPNoLeftovers(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err == nil && buf[0] == 'q' {
			return // the backend ends the session
		}
		echo(c)
	})
	inst := start(t, "--tcp", l.Addr().String())
	pid := inst.cmd.Process.Pid
	fdCount := func() int { fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); return len(fds) }
	warm := inst.dial("/", nil)
	_ = warm.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	readAll(t, warm)
	before := fdCount()
	for i := range 150 {
		c := inst.dial("/", nil)
		if i == 0 {
			if kids := childrenOf(pid); len(kids) > 0 {
				t.Fatalf("a TCP session started processes: %v", kids)
			}
		}
		switch i % 3 {
		case 0: // the backend closes
			_ = c.WriteMessage(websocket.BinaryMessage, []byte("q"))
			readAll(t, c)
		case 1: // the client closes
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			readAll(t, c)
		case 2: // the client vanishes
			c.NetConn().Close()
		}
	}
	var after int
	for range 100 {
		if after = fdCount(); after <= before {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d descriptors before 150 sessions, %d after", before, after)
}
