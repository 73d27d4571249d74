package bridge

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// staticHandler serves files under dir and nothing else: no dotfiles, no
// directory listings, and no way out of dir, symlinks included (folder).
func staticHandler(dir string) http.Handler {
	fsys, err := openFolder(dir)
	if err != nil {
		// Checked at start; a folder removed since then serves nothing.
		return http.NotFoundHandler()
	}
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := servableName(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		fi, err := fs.Stat(fsys, name)
		if err == nil && fi.IsDir() {
			fi, err = fs.Stat(fsys, path.Join(name, "index.html"))
		}
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// servableName turns a URL path into a name inside the served folder, or
// refuses it when any part of it is a dotfile.
func servableName(urlPath string) (string, bool) {
	p := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if p == "" {
		return ".", true
	}
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") {
			return "", false
		}
	}
	return p, true
}
