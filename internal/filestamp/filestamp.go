// Package filestamp tells whether files changed since they were last read,
// without a watcher goroutine: a stamp of their sizes, modification times
// and inodes, compared on use. Token files, htpasswd files and certificates
// are re-read this way, so an edit counts for the next connection.
package filestamp

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Of returns the files' stamp. A file that cannot be read is an error that
// names it. A file replaced by rename changes the stamp, as does an edit.
func Of(names ...string) (string, error) {
	var b strings.Builder
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, errors.Unwrap(err))
		}
		fmt.Fprintf(&b, "%s %d %d %d %v\n", name, fi.Size(), fi.ModTime().UnixNano(), inode(fi), fi.Mode())
	}
	return b.String(), nil
}
