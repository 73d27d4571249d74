//go:build unix && !linux

package process

// awaitExit returns at once, holding nothing: the caller's Wait reaps the
// child, on an OS thread of its own as os/exec does, before what is left of
// its group is killed. (waitid's WNOWAIT, which waits without reaping, is
// not in x/sys for macOS and FreeBSD; kqueue's EVFILT_PROC NOTE_EXIT could
// wait in the poller instead. Go stops at 10,000 threads, so thousands of
// sessions at once are a Linux thing for now.)
func awaitExit(int) (st Status, held bool) { return Status{}, false }
