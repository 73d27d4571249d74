//go:build unix && !linux

package process

import (
	"syscall"
	"time"
)

// killSession kills the session leader's process group and waits until it
// is empty. Without /proc, the session's other groups (a shell's jobs)
// cannot be listed: a job that ignores the terminal's hangup outlives its
// session here.
func killSession(sid int) { killGroupAwaiting(sid) }

// killGroupAwaiting kills every process of the group pgid and waits,
// bounded by killWait, until the group is empty: while a member lives (or
// is a zombie nobody reaped yet), kill(-pgid) finds it, so it is killed
// again, which also catches one that forked meanwhile. ESRCH (the group is
// empty) or EPERM (what is left is not ours to kill) ends the wait.
func killGroupAwaiting(pgid int) {
	deadline := time.Now().Add(killWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if syscall.Kill(-pgid, syscall.SIGKILL) != nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}
