// Package systemd speaks the two protocols a service has with systemd:
// socket activation (sd_listen_fds(3): sockets passed from fd 3 on, named
// in LISTEN_FDNAMES) and readiness notification (sd_notify(3): datagrams to
// NOTIFY_SOCKET). It is a small equivalent of go-systemd's activation and
// daemon packages, which the module proxy here does not serve.
package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenFDsStart is SD_LISTEN_FDS_START: the first passed descriptor.
const listenFDsStart = 3

// Socket is a listening socket systemd passed.
type Socket struct {
	// Name is the socket unit's FileDescriptorName=, by default the unit's
	// name ("wsbridge.socket"); "unknown" when the launcher named none.
	Name string
	net.Listener
}

// Listeners takes the sockets passed to this process: none when it was not
// socket-activated (no LISTEN_FDS, or a LISTEN_PID that is another
// process's). Like sd_listen_fds(1) it unsets LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES, so that programs started later do not take the sockets
// for theirs, and no passed descriptor stays open across an exec. Each
// socket must be a listening stream socket (TCP or unix; Accept=no).
func Listeners() ([]Socket, error) {
	n, names, err := parseEnv(os.Getpid(), os.Getenv)
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	fds := make([]int, n)
	for i := range fds {
		fds[i] = listenFDsStart + i
		closeOnExec(fds[i]) // until listeners closes it: a program started meanwhile must not inherit it
	}
	if err != nil {
		return nil, err
	}
	return listeners(fds, names)
}

// parseEnv reads the activation variables for the process pid: how many
// descriptors were passed and their names ("unknown" when unnamed).
func parseEnv(pid int, getenv func(string) string) (int, []string, error) {
	pidVar, fdsVar := getenv("LISTEN_PID"), getenv("LISTEN_FDS")
	if pidVar == "" || fdsVar == "" {
		return 0, nil, nil
	}
	p, err := strconv.Atoi(pidVar)
	if err != nil || p <= 0 {
		return 0, nil, fmt.Errorf("LISTEN_PID=%q is not a process id", pidVar)
	}
	if p != pid {
		return 0, nil, nil // meant for the process that started us
	}
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, nil, fmt.Errorf("LISTEN_FDS=%q is not a number of descriptors", fdsVar)
	}
	names := make([]string, n)
	if v := getenv("LISTEN_FDNAMES"); v != "" {
		names = strings.Split(v, ":")
		if len(names) != n {
			return 0, nil, fmt.Errorf("LISTEN_FDNAMES=%q names %d sockets, LISTEN_FDS=%d", v, len(names), n)
		}
	}
	for i := range names {
		if names[i] == "" {
			names[i] = "unknown" // sd_listen_fds_with_names' name for an unnamed one
		}
	}
	return n, names, nil
}

// listeners turns each passed descriptor into a net.Listener, closing the
// descriptor itself (the listener holds a close-on-exec duplicate). On an
// error every descriptor is closed.
func listeners(fds []int, names []string) ([]Socket, error) {
	var sockets []Socket
	var err error
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), names[i])
		if err == nil {
			var l net.Listener
			if l, err = listener(f); err != nil {
				err = fmt.Errorf("socket %q (fd %d): %w", names[i], fd, err)
			} else {
				sockets = append(sockets, Socket{Name: names[i], Listener: l})
			}
		}
		f.Close()
	}
	if err != nil {
		for _, s := range sockets {
			s.Close()
		}
		return nil, err
	}
	return sockets, nil
}
