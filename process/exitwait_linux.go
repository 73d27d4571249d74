package process

import (
	"os"
	"syscall"
	"time"

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
	awaitPidfd(f, time.Time{})
}

// awaitPidfd waits until the process of a pidfd has exited (a zombie, or
// reaped), or until deadline if it is not zero.
func awaitPidfd(f *os.File, deadline time.Time) {
	if !deadline.IsZero() {
		_ = f.SetReadDeadline(deadline)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
}

// killAndAwait kills each of pids for which same(pid) still holds once a
// pidfd has it (so a pid reused meanwhile is never hit), then waits until
// each has died, or until deadline. A kill is delivered, not obeyed, at
// once: a loaded machine may take a while to run the process to its end.
// Without a pidfd (an old kernel, no descriptor left) it kills by pid and
// waits a little; the caller looks again.
func killAndAwait(pids []int, same func(pid int) bool, deadline time.Time) {
	var fds []*os.File
	defer func() { closeAll(fds...) }()
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
		switch {
		case err == unix.ESRCH:
			continue // gone already
		case err != nil:
			if same(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		f := os.NewFile(uintptr(fd), "pidfd")
		if !same(pid) {
			f.Close()
			continue
		}
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		fds = append(fds, f)
	}
	for _, f := range fds {
		awaitPidfd(f, deadline)
	}
}
