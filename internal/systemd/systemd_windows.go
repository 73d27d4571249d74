package systemd

import (
	"errors"
	"net"
	"os"
)

// Windows has no systemd: nothing passes sockets or listens for
// notifications, so these are only reached if someone sets the variables.
var errNoSystemd = errors.New("systemd is not available on Windows")

func closeOnExec(int) {}

func listener(*os.File) (net.Listener, error) { return nil, errNoSystemd }

func monotonicMicros() (int64, error) { return 0, errNoSystemd }
