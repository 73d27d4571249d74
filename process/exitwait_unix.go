//go:build unix && !linux

package process

// awaitExit returns at once: there is no pidfd here, so the caller's Wait
// blocks an OS thread per child, as os/exec does (kqueue's EVFILT_PROC
// NOTE_EXIT could wait in the poller instead; Go stops at 10,000 threads,
// so thousands of sessions at once are a Linux thing for now).
func awaitExit(int) {}
