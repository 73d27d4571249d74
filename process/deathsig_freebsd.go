package process

import "syscall"

// dieWithParent has the child killed if wsbridge dies (Go sets it with
// procctl PROC_PDEATHSIG_CTL).
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// parentDeathNote adds nothing: FreeBSD has a parent-death signal.
const parentDeathNote = ""
