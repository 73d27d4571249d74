//go:build unix

package pollwait

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// A Buffer is what a Reader reads into: Take gives it (taking it anew after
// Release), Release gives it back, and may be called while nothing is
// taken. Take must not return an empty slice.
type Buffer interface {
	Take() []byte
	Release()
}

// A Reader reads a socket or pipe in Go's poller as a plain reader does
// (read; when nothing is there, wait for the poller, then read), but holds
// its buffer only while reading: when nothing is there the buffer goes back
// before the wait, and is taken again when something comes. So it costs a
// plain reader's system calls, a read and, after a wait, a second one,
// where RawReadable before a read costs a poll before the wait, one after
// it, and the read.
type Reader struct {
	rc  syscall.RawConn
	try func(fd uintptr) bool // made once: a closure per read would allocate
	buf Buffer
	n   int
	err error
}

// NewReader reads rc's descriptor, which must be non-blocking (in Go's
// poller).
func NewReader(rc syscall.RawConn) *Reader {
	r := &Reader{rc: rc}
	r.try = r.read
	return r
}

// Read reads once into buf.Take(), waiting in the poller, without a buffer,
// until there is something to read. It returns what read(2) returned: a
// count, 0 at the end of the stream, or its error (a syscall.Errno); or the
// wait's error (the deadline passed, the descriptor closed), after which
// buf is released. Otherwise buf holds what Take gave.
func (r *Reader) Read(buf Buffer) (int, error) {
	r.buf, r.n, r.err = buf, 0, nil
	err := r.rc.Read(r.try)
	r.buf = nil
	if err != nil {
		buf.Release()
		return 0, err
	}
	return r.n, r.err
}

// read is the poller's callback: false means "nothing yet, wait".
func (r *Reader) read(fd uintptr) bool {
	p := r.buf.Take()
	for {
		n, err := unix.Read(int(fd), p)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			r.buf.Release()
			return false
		}
		r.n, r.err = max(n, 0), err
		return true
	}
}
