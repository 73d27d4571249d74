package process

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit blocks until the process pid has exited, without reaping it and
// without holding an OS thread: it waits for its pidfd to become readable in
// Go's poller. os/exec's Wait blocks a thread per child in waitid(2), which
// with thousands of sessions means thousands of threads (Go stops at 10,000).
// Where pidfds are missing (Linux before 5.3), it returns at once and the
// caller's Wait blocks as before.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
}
