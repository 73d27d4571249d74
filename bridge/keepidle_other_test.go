//go:build unix && !darwin

package bridge

import "golang.org/x/sys/unix"

// tcpKeepIdle is the socket option of keepalive's idle time.
const tcpKeepIdle = unix.TCP_KEEPIDLE
