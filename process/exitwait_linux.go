package process

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// awaitExit blocks until the process pid has exited and says how it ended,
// without reaping it (held is true): until it is reaped, its pid, and so its
// process group's and session's ids, cannot be another process's, and
// killing them hits only what is left of the program. It waits for its
// pidfd to become readable in Go's poller, not holding an OS thread:
// os/exec's Wait blocks a thread per child in waitid(2), which with
// thousands of sessions means thousands of threads (Go stops at 10,000).
// Where pidfds are missing (Linux before 5.3), waitid blocks a thread.
func awaitExit(pid int) (st Status, held bool) {
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		awaitPidfd(f, time.Time{})
		f.Close()
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			return exitStatus(&info)
		}
		if err != unix.EINTR {
			return Status{}, false // the caller's Wait reaps it and says why
		}
	}
}

// sigchld is the start of a siginfo_t that waitid filled: three ints, then
// the union (aligned as a pointer is) whose first members for SIGCHLD are
// si_pid, si_uid and si_status. x/sys leaves the union undecoded.
type sigchld struct {
	_      [3]int32 // si_signo, si_errno, si_code (their order differs on MIPS)
	_      [0]uintptr
	pid    int32
	uid    uint32
	status int32
}

// How a child ended, in siginfo_t's si_code.
const (
	cldExited = 1 // si_status is the exit code
	cldKilled = 2 // si_status is the signal
	cldDumped = 3 // the same, with a core dump
)

// exitStatus reads a child's end from what waitid(WEXITED) filled.
func exitStatus(info *unix.Siginfo) (Status, bool) {
	c := (*sigchld)(unsafe.Pointer(info))
	switch info.Code {
	case cldExited:
		return Status{Code: int(c.status)}, true
	case cldKilled, cldDumped:
		return Status{Signal: syscall.Signal(c.status)}, true
	}
	return Status{}, false
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
