//go:build unix

package process

import (
	"syscall"
	"time"
)

// killGroupPolling kills every process of the group pgid and waits,
// bounded by killWait, until the group is empty: the portable way, with
// no process table to read. While a member lives (or is a zombie nobody
// reaped yet), kill(-pgid) finds it, so it is killed again, which also
// catches one that forked meanwhile. ESRCH (the group is empty) or EPERM
// (what is left is not ours to kill) ends the wait.
func killGroupPolling(pgid int) {
	deadline := time.Now().Add(killWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if syscall.Kill(-pgid, syscall.SIGKILL) != nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}
