package redistest

import "syscall"

// dieWithParent has the kernel kill redis-server if the test binary dies.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
