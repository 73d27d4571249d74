//go:build unix && !linux

package process

import "os"

// setPipeSize does nothing: only Linux lets a pipe be resized. BSD and
// macOS pipes grow by themselves under bulk writes (to 64 KiB), so bulk
// output goes out in somewhat smaller messages than on Linux.
func setPipeSize(uintptr, int) {}

// childPipe makes a pipe between wsbridge and a program (read says which
// end is ours): os.Pipe's, non-blocking on both ends until the program's is
// handed over (macOS has no pipe2).
func childPipe(read bool) (ours, theirs *os.File, err error) {
	r, w, err := os.Pipe()
	if read {
		return r, w, err
	}
	return w, r, err
}
