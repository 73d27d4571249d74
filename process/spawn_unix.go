//go:build unix && !linux

package process

// setPipeSize does nothing: only Linux lets a pipe be resized. BSD and
// macOS pipes grow by themselves under bulk writes (to 64 KiB), so bulk
// output goes out in somewhat smaller messages than on Linux.
func setPipeSize(uintptr, int) {}
