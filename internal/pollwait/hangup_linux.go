package pollwait

import "golang.org/x/sys/unix"

// hangupEvents asks poll for the peer's shutdown of its sending side.
const hangupEvents = unix.POLLRDHUP

// hangupRevents are the answers that mean the peer is gone.
const hangupRevents = unix.POLLRDHUP | unix.POLLHUP | unix.POLLERR
