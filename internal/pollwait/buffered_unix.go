//go:build unix && !linux

package pollwait

import "golang.org/x/sys/unix"

// fionread is FIONREAD of BSD and macOS, _IOR('f', 127, int), which
// x/sys/unix does not name for them: Linux's TIOCINQ.
const fionread = 0x4004667f

// Buffered is how many bytes wait to be read in the pipe, terminal or
// socket fd, without reading them.
func Buffered(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), fionread)
	return n
}
