//go:build unix

package bridge

import (
	"io"
	"net"
	"os"
	"syscall"

	"github.com/wsbridge/wsbridge/internal/pollwait"
)

// idleRead is a connSession's reader of output after a pause: as a plain
// reader, but with a buffer only while there is something to read.
type idleRead struct {
	r   *pollwait.Reader // nil over TLS, whose records are read whole
	buf roomBuffer
}

func (i *idleRead) init(raw syscall.RawConn) {
	if raw != nil {
		i.r = pollwait.NewReader(raw)
	}
}

// roomBuffer is the output pump's buffer as a pollwait.Buffer: its small
// size, at most room bytes of it.
type roomBuffer struct {
	rb   *readBuffer
	room int
}

func (b *roomBuffer) Take() []byte {
	b.rb.ensure()
	return b.rb.b[:min(len(b.rb.b), b.room)]
}

func (b *roomBuffer) Release() { b.rb.release() }

// readIdle reads output into rb, at most room bytes, as Read does, when the
// output pump has nothing left of the last read: rb holds a buffer while it
// reads, none while it waits (see pollwait.Reader). An idle session's wait
// then costs no poll(2) before it and none after, as WaitRead's does.
func (s *connSession) readIdle(rb *readBuffer, room int) (int, error) {
	if s.idle.r == nil {
		rb.ensure()
		return s.Read(rb.b[:min(len(rb.b), room)])
	}
	s.idle.buf = roomBuffer{rb, room}
	n, err := s.idle.r.Read(&s.idle.buf)
	s.idle.buf.rb = nil
	if errno, ok := err.(syscall.Errno); ok {
		// As the connection's own Read says it.
		err = &net.OpError{Op: "read", Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	} else if n == 0 && err == nil {
		err = io.EOF
	}
	if err != nil {
		s.noteEnd(err)
	}
	return n, err
}
