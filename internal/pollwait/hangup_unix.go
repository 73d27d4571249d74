//go:build unix && !linux && !freebsd

package pollwait

import "golang.org/x/sys/unix"

// hangupEvents: macOS has no POLLRDHUP. Its poll, built on kqueue, reports
// POLLHUP once the read filter sees EOF, which the peer's shutdown of its
// sending side (or a reset) brings even while data waits unread; so an
// idle client's hangup is seen at once, as on Linux. POLLIN is asked for
// too, since the read filter is what carries the EOF.
const hangupEvents = unix.POLLIN

// hangupRevents are the answers that mean the peer is gone; POLLIN, which
// data brings, is not one.
const hangupRevents = unix.POLLHUP | unix.POLLERR
