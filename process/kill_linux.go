package process

import (
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/internal/procfs"
)

// killSession kills every process of the session sid and waits until each
// has died, so that none runs once Close returns. A terminal's shell puts
// each job in a process group of its own, out of reach of the group kill;
// a job that ignores the hangup still belongs to the session.
func killSession(sid int) {
	killAwaiting(func(p procfs.Proc) bool { return p.SID == sid })
}

// killGroupAwaiting kills every process of the group pgid and waits until
// each has died, as killSession does for a session. Most groups are empty
// by then: that costs one kill, not a look through /proc.
func killGroupAwaiting(pgid int) {
	if syscall.Kill(-pgid, syscall.SIGKILL) == syscall.ESRCH {
		return
	}
	killAwaiting(func(p procfs.Proc) bool { return p.PGID == pgid })
}

// killAwaiting kills the live processes that match and waits, bounded by
// killWait, until each has died. A process forking meanwhile is caught by
// the next pass.
func killAwaiting(match func(procfs.Proc) bool) {
	still := func(pid int) bool {
		p, ok := procfs.Read(pid)
		return ok && match(p) && p.State != 'Z'
	}
	deadline := time.Now().Add(killWait)
	for {
		var live []int
		for _, p := range procfs.List() {
			if match(p) && p.State != 'Z' {
				live = append(live, p.PID)
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return
		}
		killAndAwait(live, still, deadline)
	}
}

// sessionMembers lists the live processes of session sid.
func sessionMembers(sid int) []int {
	var pids []int
	for _, p := range procfs.List() {
		if p.SID == sid && p.State != 'Z' {
			pids = append(pids, p.PID)
		}
	}
	return pids
}
