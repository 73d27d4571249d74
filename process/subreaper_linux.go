package process

import (
	"bytes"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/wsbridge/wsbridge/internal/procfs"
	"golang.org/x/sys/unix"
)

// Subreaper makes this process the reaper of its descendants' orphans
// (PR_SET_CHILD_SUBREAPER) and sweeps them whenever a child ends or a run is
// closed: a dead orphan is reaped, a live one killed unless it carries the
// Spec.Mark of a run not closed yet (one without any mark is killed at
// once). stop ends the sweeping after a last sweep that kills every orphan
// left, marked or not; call it when nothing runs any more.
func Subreaper() (stop func(), err error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	poke := make(chan struct{}, 1)
	children.mu.Lock()
	children.poke = poke
	children.mu.Unlock()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-sigs:
			case <-poke:
			case <-quit:
				signal.Stop(sigs)
				sweep(true)
				return
			}
			sweep(false)
		}
	}()
	return func() {
		close(quit)
		<-done
		children.mu.Lock()
		children.poke = nil
		children.mu.Unlock()
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}, nil
}

// sweep reaps dead orphans and kills live ones whose run is closed (all of
// them with all). A killed orphan's end brings a SIGCHLD, and so the sweep
// that reaps it and kills its own orphans, now ours.
func sweep(all bool) {
	children.starting.Lock()
	defer children.starting.Unlock()
	for _, pid := range ownChildren() {
		if started(pid) {
			continue // os/exec reaps it
		}
		if stateOf(pid) == 'Z' {
			var info unix.Siginfo
			_ = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil)
			continue
		}
		if !all && liveMark(environOf(pid)) {
			continue
		}
		// Our child: its pid is ours until we reap it, so this hits no
		// other process. Its group too if it leads one (setsid).
		if pgid, _ := syscall.Getpgid(pid); pgid == pid {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ownChildren lists this process's children, from each thread's children
// file (an orphan is adopted by some thread), or from the whole process
// table where that fails (a kernel without the files, a thread that ended).
func ownChildren() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	var pids []int
	for _, t := range tasks {
		b, ferr := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err = ferr; err != nil {
			break
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if err == nil {
		return pids
	}
	pids = pids[:0]
	self := os.Getpid()
	for _, p := range procfs.List() {
		if p.PPID == self {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// stateOf is a process's state letter ('Z' for a zombie), or 0.
func stateOf(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(stat, ')'); err == nil && i > 0 && len(stat) > i+2 {
		return stat[i+2]
	}
	return 0
}

// environOf is the environment a process was started with.
func environOf(pid int) []string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return strings.Split(string(b), "\x00")
}
