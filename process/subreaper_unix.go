//go:build unix && !linux

package process

import "errors"

// Subreaper fails: only Linux lets a process adopt its descendants' orphans
// and find them again without walking a process table. FreeBSD has the
// pieces (procctl PROC_REAP_ACQUIRE, and kqueue's NOTE_TRACK to follow
// forks) but no /proc by default to read a mark from; macOS has neither:
// kqueue's NOTE_EXIT tells of a known pid's end, not of its children. What
// is left everywhere: programs that stay in their process group (or, on a
// terminal, end on its hangup) end with their session, since Close kills
// the group; a stopped wsbridge ends every session first.
func Subreaper() (stop func(), err error) {
	return nil, errors.New("this system has no subreaper: a program's descendants that leave its process group (setsid, a daemon's double fork) are not ended with its session" + parentDeathNote)
}

// sweep is never called: without Subreaper no orphan is ours.
func sweep(bool) {}
