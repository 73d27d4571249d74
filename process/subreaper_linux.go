package process

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

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
	children.mu.Lock()
	children.reaping = true
	children.mu.Unlock()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		wait := time.NewTimer(0)
		<-wait.C
		tick := time.NewTicker(quietSweepEvery)
		defer tick.Stop()
		ticked := sweeps.Load()
		for {
			select {
			case <-sigs:
			case <-tick.C:
				// An orphan whose parent was not ours (a grandchild's
				// child) is adopted without a SIGCHLD: while programs
				// run, sweep when no sweep came for a while.
				if sweeps.Load() == ticked && running() {
					sweep(false)
				}
				ticked = sweeps.Load()
				continue
			case <-quit:
				signal.Stop(sigs)
				sweep(true)
				return
			}
			// A child ended. Most often it is a program whose run is being
			// closed, and Close sweeps: give it sigchldWait to, and sweep
			// here only if no sweep began meanwhile. One sweep a session,
			// not two.
			seen := sweeps.Load()
			wait.Reset(sigchldWait)
			select {
			case <-wait.C:
			case <-quit:
				signal.Stop(sigs)
				sweep(true)
				return
			}
			if sweeps.Load() == seen {
				sweep(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		children.mu.Lock()
		children.reaping = false
		children.mu.Unlock()
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}, nil
}

// sweep reaps dead orphans and kills live ones whose run is closed (all of
// them with all), then waits until those it killed have died and reaps them,
// so that a sweep leaves no zombie behind. A killed orphan's end also
// brings a SIGCHLD, and so a sweep that kills its own orphans, now ours.
func sweep(all bool) {
	var killed []int
	children.starting.Lock()
	sweeps.Add(1)
	if children.unread == nil {
		children.unread = map[int]int{}
	}
	for _, pid := range ownChildren() {
		if started(pid) {
			continue // os/exec reaps it
		}
		if stateOf(pid) == 'Z' {
			delete(children.unread, pid)
			reap(pid)
			continue
		}
		if !all {
			env, ok := environOf(pid)
			if ok {
				delete(children.unread, pid)
			} else if children.unread[pid] < unreadTries {
				// Between fork and exec, or in exec, a process shows no
				// environment for a moment: look again soon.
				children.unread[pid]++
				time.AfterFunc(unreadWait, reapOrphans)
				continue
			}
			if ok && liveMark(env) {
				continue
			}
		}
		delete(children.unread, pid)
		// Our child: its pid is ours until we reap it, so this hits no
		// other process. Its group too if it leads one (setsid).
		if pgid, _ := syscall.Getpgid(pid); pgid == pid {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		killed = append(killed, pid)
	}
	if all || !running() {
		// Nothing runs: an idle server holds no descriptor for sweeps.
		closeTaskFiles()
	}
	children.starting.Unlock()
	// Our children, dead or dying: nobody else reaps them, and their pids
	// stay ours until we do, so this waits on them without the lock.
	deadline := time.Now().Add(killWait)
	for _, pid := range killed {
		if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
			f := os.NewFile(uintptr(fd), "pidfd")
			awaitPidfd(f, deadline)
			f.Close()
		}
		reap(pid)
	}
}

// sweeps counts the sweeps begun, so that a SIGCHLD that came before one
// began needs no sweep of its own.
var sweeps atomic.Uint64

// quietSweepEvery is how often programs that run without ending are swept
// for orphans adopted without a SIGCHLD.
const quietSweepEvery = time.Second

// sigchldWait is how long a SIGCHLD's sweep waits for another to begin
// (Close's): so long a dead orphan may stay a zombie, or a live one whose
// run has ended live on.
const sigchldWait = 50 * time.Millisecond

// unreadTries and unreadWait bound how long an orphan whose environment
// cannot be read is given to show it (about half a second) before it counts
// as carrying no mark.
const (
	unreadTries = 20
	unreadWait  = 25 * time.Millisecond
)

// reap reaps a dead child by its pid, never by wait(-1); a child that has
// not died yet stays.
func reap(pid int) {
	var info unix.Siginfo
	_ = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil)
}

// ownChildren lists this process's children, from each thread's children
// file (an orphan is adopted by some thread), or from the whole process
// table where that fails (a kernel without the files, a thread that ended).
func ownChildren() []int {
	if pids, err := threadChildren(); err == nil {
		return pids
	}
	closeTaskFiles()
	var pids []int
	self := os.Getpid()
	for _, p := range procfs.List() {
		if p.PPID == self {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// taskFiles keeps /proc/self/task and each thread's children file open
// while programs run, so that a sweep (one a session) reads each file with
// one pread from its start, which builds it anew, instead of opening it
// again: a path's lookup in /proc is most of a sweep's cost, and
// os.ReadFile spends ten system calls a file. Used under
// children.starting's write lock, as sweeps are.
var taskFiles taskFileSet

type taskFileSet struct {
	dir      int            // /proc/self/task, if open
	open     bool           // dir is open
	children map[string]int // a thread's children file by its id
	names    []string       // the threads, as the last sweep listed them
	again    []string       // the threads listed after the reads
	// dirents and text are the reads' buffers, kept: an array on the
	// stack would grow the stack of the goroutine that closes a session.
	dirents, text []byte
}

// threadChildren reads every thread's children file, with the threads as
// the last sweep listed them, then lists them again: a thread that ended
// meanwhile handed its children to another, perhaps one read before, and a
// new one may have some; then the files are read again with the new list.
func threadChildren() ([]int, error) {
	f := &taskFiles
	if f.children == nil {
		f.children = map[string]int{}
	}
	var err error
	if len(f.names) == 0 {
		if f.names, err = listThreads(f.names[:0]); err != nil {
			return nil, err
		}
	}
	if f.text == nil {
		f.text = make([]byte, 0, 512)
	}
	buf := f.text
	defer func() { f.text = buf[:0] }()
	for range 3 {
		var pids []int
		for _, tid := range f.names {
			fd, ok := f.children[tid]
			if !ok {
				fd, err = unix.Open(procTaskDir+"/"+tid+"/children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == unix.ENOENT || err == unix.ESRCH {
					continue // ended: the list after the reads differs
				}
				if err != nil {
					return nil, err
				}
				f.children[tid] = fd
			}
			if buf, err = preadAll(fd, buf[:0]); err != nil {
				return nil, err
			}
			pids = appendPids(pids, buf)
		}
		if f.again, err = listThreads(f.again[:0]); err != nil {
			return nil, err
		}
		same := slices.Equal(f.names, f.again)
		f.names, f.again = f.again, f.names
		if len(f.children) > len(f.names) {
			f.forgetEnded()
		}
		if same {
			return pids, nil
		}
	}
	return nil, errors.New("threads came and went during the sweep")
}

// forgetEnded closes the children files of threads no longer listed.
func (f *taskFileSet) forgetEnded() {
	for tid, fd := range f.children {
		if !slices.Contains(f.names, tid) {
			unix.Close(fd)
			delete(f.children, tid)
		}
	}
}

// appendPids appends the numbers of a children file ("12 345 ") to pids.
func appendPids(pids []int, text []byte) []int {
	pid, digits := 0, false
	for _, c := range text {
		if '0' <= c && c <= '9' {
			pid, digits = pid*10+int(c-'0'), true
			continue
		}
		if digits {
			pids = append(pids, pid)
		}
		pid, digits = 0, false
	}
	if digits {
		pids = append(pids, pid)
	}
	return pids
}

// closeTaskFiles closes what taskFiles holds: when nothing runs, wsbridge
// holds no descriptor for sweeps.
func closeTaskFiles() {
	f := &taskFiles
	if f.open {
		unix.Close(f.dir)
		f.open = false
	}
	for tid, fd := range f.children {
		unix.Close(fd)
		delete(f.children, tid)
	}
	// The list of threads stays: the next sweep reads it first and checks
	// it after, so a stale one costs a second round, not a wrong answer.
}

// procTaskDir lists this process's threads.
const procTaskDir = "/proc/self/task"

// listThreads appends the entries of /proc/self/task to names.
func listThreads(names []string) ([]string, error) {
	f := &taskFiles
	if !f.open {
		fd, err := unix.Open(procTaskDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return names, err
		}
		f.dir, f.open = fd, true
	} else if _, err := unix.Seek(f.dir, 0, io.SeekStart); err != nil {
		return names, err
	}
	if f.dirents == nil {
		f.dirents = make([]byte, 2048)
	}
	buf := f.dirents
	for {
		n, err := unix.Getdents(f.dir, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return names, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// preadAll appends a /proc file's contents to buf, read from its start.
func preadAll(fd int, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Pread(fd, buf[len(buf):cap(buf)], int64(len(buf)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n <= 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// stateOf is a process's state letter ('Z' for a zombie), or 0.
func stateOf(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(stat, ')'); err == nil && i > 0 && len(stat) > i+2 {
		return stat[i+2]
	}
	return 0
}

// environOf is the environment a process was started with; false when it
// cannot be read or is empty (in exec, or another user's process).
func environOf(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return strings.Split(string(b), "\x00"), true
}

// running says whether a child Start made has not been reaped yet.
func running() bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	return len(children.pids) > 0
}

// started says whether pid is a child Start made.
func started(pid int) bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	return children.pids[pid] > 0
}

// liveMark says whether an orphan's environment holds the mark of a run
// that is not closed yet.
func liveMark(environ []string) bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	return slices.ContainsFunc(environ, func(kv string) bool { return children.marks[kv] > 0 })
}
