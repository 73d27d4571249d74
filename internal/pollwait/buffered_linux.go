package pollwait

import "golang.org/x/sys/unix"

// Buffered is how many bytes wait to be read in the pipe, terminal or
// socket fd, without reading them.
func Buffered(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
	return n
}
