package bridge

import "golang.org/x/sys/unix"

// tcpKeepIdle is the socket option of keepalive's idle time: macOS calls
// it TCP_KEEPALIVE.
const tcpKeepIdle = unix.TCP_KEEPALIVE
