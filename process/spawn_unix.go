//go:build unix && !linux

package process

import "golang.org/x/sys/unix"

// fionread is BSD's and macOS's FIONREAD, _IOR('f', 127, int), which
// x/sys/unix does not export for them: Linux's TIOCINQ.
const fionread = 0x4004667f

// inq is how many bytes wait to be read in a pipe or terminal.
func inq(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), fionread)
	return n
}

// setPipeSize does nothing: only Linux lets a pipe be resized. BSD and
// macOS pipes grow by themselves under bulk writes (to 64 KiB), so bulk
// output goes out in somewhat smaller messages than on Linux.
func setPipeSize(uintptr, int) {}
