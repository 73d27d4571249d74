//go:build unix

package filestamp

import (
	"os"
	"syscall"
)

// inode tells a file replaced by rename from the one it replaced.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
