package pollwait

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Readable returns once socket c is readable (data or its end), or with
// the error its deadline or closing gives: Go's poller waits with a
// zero-byte overlapped receive, which takes no buffer. A pipe cannot be
// waited on that way (anonymous pipes have no overlapped I/O): for one it
// returns at once, and the caller's read is what waits, with its buffer.
func Readable(c syscall.Conn) error {
	if _, ok := c.(*os.File); ok {
		return nil // a pipe or a file, never a socket here
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return RawReadable(rc)
}

// RawReadable is Readable for a socket's RawConn the caller keeps.
func RawReadable(rc syscall.RawConn) error {
	waited := false
	return rc.Read(func(uintptr) bool {
		done := waited
		waited = true
		return done
	})
}

// WatchHangup fails: Windows tells of a peer's hangup only to a read, and
// a read would take the data that waits.
func WatchHangup(syscall.Conn, func()) (stop func(), err error) {
	return nil, errors.New("watching a socket for a hangup without reading is not possible on Windows")
}

var peekNamedPipe = windows.NewLazySystemDLL("kernel32.dll").NewProc("PeekNamedPipe")

// fionread is Winsock's FIONREAD, _IOR('f', 127, u_long).
const fionread = 0x4004667f

// Buffered is how many bytes wait to be read in the pipe or socket fd,
// without reading them.
func Buffered(fd uintptr) int {
	var avail uint32
	if r, _, _ := peekNamedPipe.Call(fd, 0, 0, 0, uintptr(unsafe.Pointer(&avail)), 0); r != 0 {
		return int(avail)
	}
	var n, ret uint32
	if windows.WSAIoctl(windows.Handle(fd), fionread, nil, 0, (*byte)(unsafe.Pointer(&n)), 4, &ret, nil, 0) != nil {
		return 0
	}
	return int(n)
}
