//go:build !unix

package bridge

import "syscall"

// idleRead is nothing here: a connSession waits with WaitRead, then reads.
type idleRead struct{}

func (*idleRead) init(syscall.RawConn) {}
