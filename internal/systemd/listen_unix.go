//go:build unix

package systemd

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

func listener(f *os.File) (net.Listener, error) {
	fd := int(f.Fd())
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.ENOTSOCK):
		return nil, errors.New("not a socket")
	case err != nil:
		return nil, err
	case typ != unix.SOCK_STREAM:
		return nil, errors.New("not a stream socket (ListenStream=)")
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
		return nil, err
	} else if on == 0 {
		return nil, errors.New("not listening: a connection (Accept=yes) instead of a listening socket (Accept=no)")
	}
	return net.FileListener(f)
}
