package pollwait

import "golang.org/x/sys/unix"

// hangupEvents asks poll for the peer's shutdown of its sending side:
// POLLRDHUP, as on Linux, on kernels that know it (it came in 2021, with
// FreeBSD 13.1 and 14). An older kernel ignores the bit and reports POLLHUP
// only once both directions are gone (a reset, or our own shutdown): an
// idle client's clean close is then seen at the session's next read or
// write, not at once.
const hangupEvents = unix.POLLRDHUP

// hangupRevents are the answers that mean the peer is gone.
const hangupRevents = unix.POLLRDHUP | unix.POLLHUP | unix.POLLERR
