package process

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// dieWithParent has the child killed if wsbridge dies.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// setPipeSize asks the kernel for a pipe of size bytes; it may refuse.
func setPipeSize(fd uintptr, size int) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size) }
