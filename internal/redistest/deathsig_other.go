//go:build !linux

package redistest

import "syscall"

// dieWithParent does nothing where there is no parent-death signal: Stop
// (from the test's cleanup) ends redis-server.
func dieWithParent(*syscall.SysProcAttr) {}
