package connect

import (
	"errors"

	"golang.org/x/sys/windows"
)

// connReset says whether err is the peer's reset, by Winsock's number:
// syscall.ECONNRESET is a made-up value on Windows.
func connReset(err error) bool { return errors.Is(err, windows.WSAECONNRESET) }
