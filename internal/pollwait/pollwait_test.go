//go:build unix

package pollwait

import (
	"net"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWatchHangup: data that waits unread is no hangup; the peer's close is,
// however much data waits before it.
func TestWatchHangup(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	gone := make(chan struct{})
	stop, err := WatchHangup(server.(syscall.Conn), func() { close(gone) })
	if err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("unread data"))
	if err := Readable(server.(syscall.Conn)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		t.Fatal("data taken for a hangup")
	default:
	}
	stop() // a stopped watch calls nothing
	stop, err = WatchHangup(server.(syscall.Conn), func() { close(gone) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client.Close()
	<-gone
	buf := make([]byte, 64)
	if n, _ := server.Read(buf); string(buf[:n]) != "unread data" {
		t.Fatalf("the watch read the data: %q left", buf[:n])
	}
}

// TestReady: data is ready, an empty pipe is not, and neither is one whose
// writer is gone (a hangup is no data).
func TestReady(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ready := func() bool {
		rc, _ := r.SyscallConn()
		var ok bool
		_ = rc.Control(func(fd uintptr) { ok = Ready(fd) })
		return ok
	}
	if ready() {
		t.Error("an empty pipe is ready")
	}
	w.Write([]byte("x"))
	if !ready() {
		t.Error("a pipe holding a byte is not ready")
	}
	w.Close()
	r.Read(make([]byte, 1))
	if ready() {
		t.Error("an empty pipe without a writer is ready")
	}
}
