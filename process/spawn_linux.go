package process

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dieWithParent has the child killed if wsbridge dies.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// setPipeSize asks the kernel for a pipe of size bytes; it may refuse.
func setPipeSize(fd uintptr, size int) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size) }

// childPipe makes a pipe between wsbridge and a program: ours is
// non-blocking, in Go's poller, and the program's end blocking, as programs
// expect. os.Pipe would make both non-blocking and put both in the poller,
// and starting the program would then make its end blocking again and
// closing it take it out: five system calls a pipe more than this, which a
// session pays for three pipes. read says which end is ours.
func childPipe(read bool) (ours, theirs *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	o, t := fds[0], fds[1]
	if !read {
		o, t = t, o
	}
	// Status flags are the open file's: clearing O_NONBLOCK on one end
	// leaves the other as it is. F_SETFL ignores the access mode.
	if _, err := unix.FcntlInt(uintptr(t), unix.F_SETFL, 0); err != nil {
		syscall.Close(o)
		syscall.Close(t)
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(o), "|0"), os.NewFile(uintptr(t), "|1"), nil
}
