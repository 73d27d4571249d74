//go:build unix

// Package pollwait waits, in Go's poller, until a pipe or socket has
// something to read (data, its end, or an error), without reading it: so a
// reader can take a buffer only when there is something to put in it. It
// also watches a socket for its peer's hangup, without reading.
package pollwait

import (
	"os"
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
	return RawReadable(rc)
}

// RawReadable is Readable for a RawConn the caller keeps: a reader that
// waits before every read saves SyscallConn's allocation.
func RawReadable(rc syscall.RawConn) error {
	// The poller runs the check first and waits for the next edge only when
	// it says no, so output that came before the wait is not missed.
	return rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
}

// Ready says whether fd has data to read now, without waiting or reading.
// Unlike Buffered, it counts what a terminal's master has not yet moved
// into its read buffer: Linux's poll moves it first.
func Ready(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err != unix.EINTR {
			return n > 0 && fds[0].Revents&unix.POLLIN != 0
		}
	}
}

// WatchHangup calls gone, in its own goroutine, once the peer of socket c
// hangs up (shuts down its sending side, resets, or fails), whatever data
// still waits to be read: nothing is read. stop ends the watch and returns
// once gone, if called, has returned. The watch holds a duplicate of c's
// descriptor in Go's poller, so c's own reads and deadlines are untouched.
func WatchHangup(c syscall.Conn, gone func()) (stop func(), err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	dup := -1
	if cerr := rc.Control(func(fd uintptr) { dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "hangup watch") // non-blocking, as c: in the poller
	frc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hungUp := false
		// Readable wakes us for data too: only a hangup ends the watch.
		_ = frc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: hangupEvents}}
			n, err := unix.Poll(fds, 0)
			hungUp = n > 0 && fds[0].Revents&hangupRevents != 0
			return hungUp || (err != nil && err != unix.EINTR)
		})
		if hungUp {
			gone()
		}
	}()
	return func() { f.Close(); <-done }, nil
}
