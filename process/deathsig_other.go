//go:build unix && !linux && !freebsd

package process

import "syscall"

// dieWithParent does nothing: macOS has no parent-death signal. A wsbridge
// that is stopped (SIGINT, SIGTERM) ends every session first; one killed
// with SIGKILL leaves its programs running, until they next read their
// closed standard input or write to their closed output.
func dieWithParent(*syscall.SysProcAttr) {}

// parentDeathNote says so at start, with the subreaper's absence.
const parentDeathNote = "; nor is there a parent-death signal: programs outlive a wsbridge killed with SIGKILL"
