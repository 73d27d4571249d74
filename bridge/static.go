package bridge

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"os"
	"path"
	"strings"
)

// staticHandler serves files under dir and nothing else: no dotfiles, no
// directory listings, and no way out of dir, symlinks included (os.Root).
func staticHandler(dir string) http.Handler {
	root, err := os.OpenRoot(dir)
	if err != nil {
		// Checked at start; a folder removed since then serves nothing.
		return http.NotFoundHandler()
	}
	fsys := root.FS()
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

// cgiHandler runs CGI scripts from dir, confined to it like --dir scripts.
type cgiHandler struct {
	dir   string
	env   []string // names passed through from wsbridge's environment
	limit *routeHandler
}

// serve answers r if its path names a script in dir, and says whether it did.
func (c *cgiHandler) serve(w http.ResponseWriter, r *http.Request) bool {
	script, err := findScript(c.dir, r.URL.Path)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return false
	}
	if err != nil {
		writeOpenError(w, err)
		return true
	}
	if !c.limit.acquire() {
		writeOpenError(w, errTooMany)
		return true
	}
	defer c.limit.release()
	h := &cgi.Handler{
		Path:       script.file,
		Root:       script.scriptName,
		Dir:        c.dir,
		InheritEnv: c.env,
	}
	for _, kv := range identityEnv(r) {
		h.Env = append(h.Env, kv[0]+"="+cleanEnvValue(kv[1]))
	}
	r = r.Clone(r.Context())
	// net/http/cgi turns X_Foo into HTTP_X_FOO too: the same rule as exec's.
	for name := range r.Header {
		if !passedHeader(name) {
			delete(r.Header, name)
		}
	}
	h.ServeHTTP(w, r)
	return true
}
