package pollwait

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadableTakesNothing: Readable returns once data waits, reads none
// of it (Buffered counts it, Read gets it whole), and then ends on the
// socket's deadline, not at once, when nothing is there.
func TestReadableTakesNothing(t *testing.T) {
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
	sc := server.(syscall.Conn)

	server.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if err := Readable(sc); !os.IsTimeout(err) {
		t.Fatalf("Readable on an idle socket: %v, want its deadline", err)
	}
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	client.Write([]byte("hello"))
	if err := Readable(sc); err != nil {
		t.Fatal(err)
	}
	rc, _ := sc.SyscallConn()
	n := 0
	rc.Control(func(fd uintptr) { n = Buffered(fd) })
	if n != 5 {
		t.Errorf("Buffered %d, want 5", n)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
	client.Close()
	if err := Readable(sc); err != nil {
		t.Fatalf("Readable at the peer's end: %v", err)
	}
}

// TestBufferedPipe: a pipe's waiting bytes are counted (PeekNamedPipe).
func TestBufferedPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	w.Write([]byte("abc"))
	if n := Buffered(r.Fd()); n != 3 {
		t.Fatalf("Buffered %d, want 3", n)
	}
	if err := Readable(r); err != nil {
		t.Fatalf("Readable on a pipe: %v, want nil (the read waits)", err)
	}
}
