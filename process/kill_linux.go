package process

import (
	"os"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/internal/procfs"
	"golang.org/x/sys/unix"
)

// killSession kills every process of the session sid and waits until each
// has died, so that none runs once Close returns. A terminal's shell puts
// each job in a process group of its own, out of reach of the group kill;
// a job that ignores the hangup still belongs to the session.
func killSession(sid int) {
	killAwaiting(func(p procfs.Proc) bool { return p.SID == sid })
}

// awaitGroupGone waits, bounded by killWait, until the processes of group
// pgid have died, killing none: they were killed while the group's leader
// was held (a zombie, see reap), which has been reaped since, so a process
// found now could be of a new group given the same number. A process that
// was sent SIGKILL forks no more.
func awaitGroupGone(pgid int) {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return // most often
	}
	deadline := time.Now().Add(killWait)
	for _, p := range procfs.List() {
		if p.PGID != pgid || p.State == 'Z' {
			continue
		}
		fd, err := unix.PidfdOpen(p.PID, unix.PIDFD_NONBLOCK)
		if err != nil {
			continue // gone already, or no pidfds: not waited for
		}
		f := os.NewFile(uintptr(fd), "pidfd")
		awaitPidfd(f, deadline)
		f.Close()
	}
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
