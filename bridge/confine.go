package bridge

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// folder is a served folder (--staticdir, --dir, --cgidir) that nothing
// leaves: a name in it is followed through its symlinks, absolute or
// relative, and must end inside the folder and on no dotfile.
type folder struct {
	dir  string   // absolute, symlinks resolved
	root *os.Root // opens what resolve allowed, still confined
}

func openFolder(dir string) (*folder, error) {
	dir, err := filepath.Abs(dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &folder{dir: dir, root: root}, nil
}

func (f *folder) Close() error { return f.root.Close() }

// resolve turns a slash-separated name inside the folder into the path,
// relative to it, of what it points to. A name that is missing, ends
// outside the folder or on a dotfile is fs.ErrNotExist.
func (f *folder) resolve(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fs.ErrNotExist
	}
	real, err := filepath.EvalSymlinks(filepath.Join(f.dir, filepath.FromSlash(name)))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(f.dir, real)
	if err != nil {
		return "", fs.ErrNotExist
	}
	for seg := range strings.SplitSeq(filepath.ToSlash(rel), "/") {
		if seg != "." && strings.HasPrefix(seg, ".") { // "..": outside
			return "", fs.ErrNotExist
		}
	}
	return rel, nil
}

// Open and Stat make the folder an fs.FS. Both go through os.Root: a
// symlink swapped in after resolve still cannot lead out.
func (f *folder) Open(name string) (fs.File, error) {
	rel, err := f.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return f.root.Open(rel)
}

func (f *folder) Stat(name string) (fs.FileInfo, error) {
	rel, err := f.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.root.Stat(rel)
}
