//go:build unix

package bridge

import (
	"errors"
	"syscall"
)

// Socket errors by their platform's numbers (Winsock's differ).
const (
	errAddrInUse   = syscall.EADDRINUSE
	errConnRefused = syscall.ECONNREFUSED
)

// connReset says whether err is the peer's reset.
func connReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
