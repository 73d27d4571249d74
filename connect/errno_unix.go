//go:build unix

package connect

import (
	"errors"
	"syscall"
)

// connReset says whether err is the peer's reset.
func connReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
