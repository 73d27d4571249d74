//go:build unix && !linux

package process

import "errors"

// Subreaper fails: only Linux lets a process adopt its descendants' orphans
// (FreeBSD's procctl PROC_REAP_ACQUIRE could, but finding and naming the
// orphans then needs a process table this package does not read there).
// Programs that stay in their process group (or, on a terminal, that end
// on its hangup) still end with their session: Close kills the group.
func Subreaper() (stop func(), err error) {
	return nil, errors.New("this system has no subreaper: a program's descendants that leave its process group (setsid, a daemon's double fork) are not ended with its session" + parentDeathNote)
}

// sweep is never called: without Subreaper no orphan is ours.
func sweep(bool) {}
