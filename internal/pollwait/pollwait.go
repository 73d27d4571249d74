// Package pollwait waits, in Go's poller, until a pipe or socket has
// something to read (data, its end, or an error), without reading it: so a
// reader can take a buffer only when there is something to put in it.
package pollwait

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Readable returns once c is readable, or with the error its deadline or
// closing gives.
func Readable(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	// The poller runs the check first and waits for the next edge only when
	// it says no, so output that came before the wait is not missed.
	return rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
}
