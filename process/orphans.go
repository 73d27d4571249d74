//go:build unix

package process

import "sync"

// Orphans. A program's descendant that leaves its process group (setsid, a
// daemon's double fork) is out of reach of the ladder's group signals. With
// Subreaper, such a process, once its parent has gone, becomes wsbridge's
// child instead of init's; it is then known by its run's Spec.Mark, which it
// inherited in its environment, and killed once that run is closed. A dead
// one is reaped by its pid, never by wait(-1), which would steal the status
// of a program that os/exec waits for.

// children is what the sweeper must know of the children Start made.
var children struct {
	// starting is held (read) across each fork and its registration, and
	// (write) by the sweeper, so it never takes a child Start just made for
	// an orphan.
	starting sync.RWMutex
	mu       sync.Mutex
	pids     map[int]int    // started and not yet reaped; counts, as a pid may be reused
	marks    map[string]int // marks of runs not yet closed
	reaping  bool           // Subreaper is on: orphans are ours to end
	unread   map[int]int    // orphans whose environment could not be read yet: tries (under starting)
}

// register records a child Start made; the caller holds starting.
func register(pid int, mark string) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.pids == nil {
		children.pids, children.marks = map[int]int{}, map[string]int{}
	}
	children.pids[pid]++
	if mark != "" {
		children.marks[mark]++
	}
}

// reaped forgets a child os/exec has reaped.
func reaped(pid int) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.pids[pid]--; children.pids[pid] <= 0 {
		delete(children.pids, pid)
	}
}

// closed ends a run's mark (if it has one): orphans that carry it are
// killed now, and those already dead (the run's group, killed by Close)
// reaped before it returns, so that a closed run leaves no zombie behind.
func closed(mark string) {
	if mark != "" {
		children.mu.Lock()
		if children.marks[mark]--; children.marks[mark] <= 0 {
			delete(children.marks, mark)
		}
		children.mu.Unlock()
	}
	reapOrphans()
}

// reapOrphans sweeps now, when Subreaper is on, rather than at the next
// SIGCHLD: orphans just killed are reaped before the caller goes on.
func reapOrphans() {
	children.mu.Lock()
	reaping := children.reaping
	children.mu.Unlock()
	if reaping {
		sweep(false)
	}
}
