//go:build unix

package bridge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// TestIdleSessionHeap: an idle session of cat holds at most idleExecHeap
// bytes of heap, the server's and this test's raw client socket together:
// the program's CGI environment, arguments, attributes and closed ends of
// its pipes are not kept once it has them. Measured with Go 1.26 on
// linux/amd64: 4,600-4,750 bytes; 5,850-6,050 keeping the environment,
// arguments and attributes, 6,150-6,300 keeping everything (4,950-5,050
// keeping only the closed files, which this does not catch). Goroutine
// stacks are not heap, and goroutine descriptors are reused: neither is
// counted here (bench hold counts everything).
func TestIdleSessionHeap(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	const sessions, idleExecHeap = 100, 5300
	addr, _ := serve(t, func(s *Server) { s.Routes[0].Framing = Binary })
	open := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		rawRoundTrip(t, c, addr)
		return c
	}
	open() // whatever a first session sets up once
	// Goroutine descriptors are never freed, only reused: leave enough
	// ended ones for the sessions' goroutines, so that whether tests ran
	// before this one does not change the figure.
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 8 * sessions {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
	before := liveHeap()
	conns := make([]net.Conn, sessions)
	for i := range conns {
		conns[i] = open()
	}
	per := (liveHeap() - before) / sessions
	runtime.KeepAlive(conns)
	t.Logf("%d bytes of heap per idle session", per)
	if per > idleExecHeap {
		t.Errorf("an idle session holds %d bytes of heap, want at most %d", per, idleExecHeap)
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// rawRoundTrip opens a WebSocket on c by hand (so that the client holds
// nothing but its socket) and sends one binary message, which cat echoes.
func rawRoundTrip(t *testing.T, c net.Conn, host string) {
	t.Helper()
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 16)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	msg := []byte("are you there?")
	frame := append([]byte{0x82, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...) // masked with zeros
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2+len(msg))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got[2:], msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
}
