package process

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOneSweepPerSession: with the Subreaper, a run that ends costs one
// sweep (a read of every thread's children file), not three: Close sweeps
// once for its group and its mark, and the SIGCHLD of the program's exit
// needs no sweep of its own when Close's began after it.
func TestOneSweepPerSession(t *testing.T) {
	stop, err := Subreaper()
	if err != nil {
		t.Fatal(err)
	}
	const runs = 20
	before := sweeps.Load()
	for i := range runs {
		p, err := Start(Spec{Path: "/bin/cat", Mark: "SWEEP_TEST=" + strconv.Itoa(i), Env: []string{"SWEEP_TEST=" + strconv.Itoa(i)}})
		if err != nil {
			stop()
			t.Fatal(err)
		}
		_ = p.CloseWrite()
		_, _ = io.Copy(io.Discard, p)
		p.Wait()
		p.Close()
	}
	stop() // waits for the SIGCHLD sweeper, which then sweeps once more
	n := sweeps.Load() - before - 1
	t.Logf("%d sweeps for %d runs", n, runs)
	// Before: Close swept twice (its group's adopted members, then its
	// mark) and each SIGCHLD once more (2.85-3 a run). Now one a run, and
	// another only for a run whose Close came 50 ms after its exit.
	if n > runs*3/2 {
		t.Errorf("%d sweeps for %d runs, want at most %d", n, runs, runs*3/2)
	}
}

// TestOwnChildrenFromKeptFiles: the sweep's list of children, read again
// from the files it keeps open, has every child Start made and, once they
// are reaped, none of them.
func TestOwnChildrenFromKeptFiles(t *testing.T) {
	var ps []*Process
	for range 3 {
		p, err := Start(Spec{Path: "/bin/cat"})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	list := func() []int {
		children.starting.Lock()
		defer children.starting.Unlock()
		return ownChildren()
	}
	for round := range 4 { // the first opens the files, the others pread them
		if round == 3 {
			// The list kept from the last sweep has gone stale (threads
			// came): the children are read again with the new one.
			children.starting.Lock()
			taskFiles.names = taskFiles.names[:1]
			children.starting.Unlock()
		}
		got := list()
		for _, p := range ps {
			if !slices.Contains(got, p.Pid()) {
				t.Errorf("round %d: %d not among %v", round, p.Pid(), got)
			}
		}
	}
	for _, p := range ps {
		p.Close()
	}
	got := list()
	for _, p := range ps {
		if slices.Contains(got, p.Pid()) {
			t.Errorf("%d still listed after Close: %v", p.Pid(), got)
		}
	}
	children.starting.Lock()
	closeTaskFiles()
	children.starting.Unlock()
	// Nothing of the files is left open.
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if target, _ := os.Readlink("/proc/self/fd/" + fd.Name()); strings.HasPrefix(target, "/proc/") && strings.Contains(target, "/task") {
			t.Errorf("fd %s still open on %s", fd.Name(), target)
		}
	}
}

// TestOrphanOfGrandchildKilledWhileRunning: an orphan without the run's
// mark whose parent was the program's child is adopted without a SIGCHLD
// (its parent was not ours), and no run ends: the quiet sweep kills it
// while the program runs on. Without it the orphan lived until some other
// run ended.
func TestOrphanOfGrandchildKilledWhileRunning(t *testing.T) {
	stop, err := Subreaper()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pidFile := t.TempDir() + "/pid"
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "(setsid env -i /bin/sleep 300 & echo $! >" + pidFile + "); exec /bin/sleep 300"},
		Mark: "QUIET_SWEEP=1", Env: []string{"QUIET_SWEEP=1", "PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var orphan int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if orphan == 0 {
			b, _ := os.ReadFile(pidFile)
			orphan, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(orphan)); err != nil {
			return // killed and reaped
		}
	}
	t.Fatalf("the orphan %d (no mark, adopted from a grandchild) still lives 10 s on while its program runs", orphan)
}
