package bridge

import (
	"errors"

	"golang.org/x/sys/windows"
)

// Socket errors by Winsock's numbers: syscall's EADDRINUSE and the like
// are made-up values on Windows, which no socket call returns.
const (
	errAddrInUse   = windows.WSAEADDRINUSE
	errConnRefused = windows.WSAECONNREFUSED
)

// connReset says whether err is the peer's reset, by Winsock's number:
// syscall.ECONNRESET is a made-up value on Windows.
func connReset(err error) bool { return errors.Is(err, windows.WSAECONNRESET) }
