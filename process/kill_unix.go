//go:build unix && !linux

package process

// killSession kills the session leader's process group and waits until it
// is empty. Without /proc, the session's other groups (a shell's jobs)
// cannot be listed: a job that ignores the terminal's hangup outlives its
// session here.
func killSession(sid int) { killGroupPolling(sid) }

// awaitGroupGone is for a leader held unreaped, which happens on Linux
// only (see awaitExit); here it is killGroupAwaiting.
func awaitGroupGone(pgid int) { killGroupPolling(pgid) }

// killGroupAwaiting kills every process of the group pgid and waits until
// the group is empty.
func killGroupAwaiting(pgid int) { killGroupPolling(pgid) }
