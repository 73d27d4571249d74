package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/wsbridge/wsbridge/internal/filestamp"
)

// A TokenSource finds the target a token names: websockify's token plugins.
// An unknown token, or a lookup that failed, is an *HTTPError to answer.
// host says that the token is a Host header's name, which is
// case-insensitive.
type TokenSource interface {
	Target(ctx context.Context, token string, host bool) (Target, error)
	String() string // where the targets come from, for logs
}

// TokenFile maps tokens to targets, from a file in websockify's format or a
// folder of such files:
//
//	# comment
//	vm1: 127.0.0.1:5901
//	vm2: unix_socket:/run/vm2.sock
//
// Each lookup checks whether the files changed (one stat per file) and reads
// them again if so, so an edit counts for the next connection. A bad line is
// logged with its file and line number and skipped; the rest keeps working.
// A file that cannot be read fails Load; on a later read it keeps the
// targets read before, while a removed Path revokes them all.
type TokenFile struct {
	Path string
	Log  *slog.Logger

	mu      sync.Mutex
	stamp   string // the files' names, sizes, times and inodes when last read
	targets map[string]Target
	hosts   map[string]Target // by lowercased token, for host names
}

// Load reads the token files; an error means Path, or a file in it, cannot
// be read. Bad lines are not errors: they are logged and skipped.
func (f *TokenFile) Load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	files, stamp, err := f.files()
	if err != nil {
		return err
	}
	return f.read(files, stamp)
}

// Lookup returns the token's target, re-reading the files if they changed.
func (f *TokenFile) Lookup(token string) (Target, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	t, ok := f.targets[token]
	return t, ok
}

// LookupHost is Lookup for a host name (--host-token): host names are
// case-insensitive, so is this lookup.
func (f *TokenFile) LookupHost(name string) (Target, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	t, ok := f.hosts[strings.ToLower(name)]
	return t, ok
}

// Target is Lookup or LookupHost as a TokenSource.
func (f *TokenFile) Target(_ context.Context, token string, host bool) (Target, error) {
	lookup := f.Lookup
	if host {
		lookup = f.LookupHost
	}
	t, ok := lookup(token)
	if !ok {
		return Target{}, errUnknownToken
	}
	return t, nil
}

// errUnknownToken answers a token that no source knows.
var errUnknownToken = httpErrorf(http.StatusNotFound, "unknown token")

func (f *TokenFile) String() string { return "the token file " + f.Path }

// refresh re-reads the files if they changed. f.mu is held.
func (f *TokenFile) refresh() {
	files, stamp, err := f.files()
	switch {
	case err != nil && f.stamp != "":
		// Gone or unreadable: no targets, so removing the file revokes them.
		f.Log.Error("token file", "err", err)
		f.stamp, f.targets, f.hosts = "", nil, nil
	case err == nil && stamp != f.stamp:
		if err := f.read(files, stamp); err != nil {
			// Half an edit must not revoke every token: keep the last good
			// set until the files change again.
			f.Log.Error("token file: keeping the tokens read before", "err", err)
			f.stamp = stamp
		}
	}
}

// files lists the token files (Path, or the visible regular files in it, by
// name) and a stamp that changes when any of them does. An entry that cannot
// be stat'ed (a dangling symlink) is listed too, so that reading it fails and
// names it; other entries that are not regular files (folders, sockets) are
// skipped.
func (f *TokenFile) files() ([]string, string, error) {
	fi, err := os.Stat(f.Path)
	if err != nil {
		return nil, "", errors.Unwrap(err) // the path is in our own messages
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, "", errors.New("not a regular file or a folder") // a FIFO would block every read
	}
	files := []string{f.Path}
	if fi.IsDir() {
		entries, err := os.ReadDir(f.Path)
		if err != nil {
			return nil, "", errors.Unwrap(err)
		}
		files = files[:0]
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(f.Path, e.Name()))
			}
		}
	}
	var kept, regular []string
	unreadable := ""
	for _, name := range files {
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			kept, unreadable = append(kept, name), unreadable+"unreadable "+name+"\n"
		case fi.Mode().IsRegular():
			kept, regular = append(kept, name), append(regular, name)
		}
	}
	stamp, err := filestamp.Of(regular...)
	if err != nil {
		return nil, "", err
	}
	return kept, "files:" + stamp + unreadable, nil // never "": that means never read
}

// read parses the files into a new map, logging bad lines. A file that
// cannot be read is an error, and the targets stay as they were.
func (f *TokenFile) read(files []string, stamp string) error {
	targets, hosts := map[string]Target{}, map[string]Target{}
	where := map[string]string{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			if name == f.Path {
				return errors.Unwrap(err) // the path is in our own messages
			}
			return fmt.Errorf("%s: %w", name, errors.Unwrap(err))
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Buffer(nil, len(data)+1)
		for n := 1; sc.Scan(); n++ {
			token, target, err := parseTokenLine(sc.Text())
			at := name + ":" + strconv.Itoa(n)
			switch {
			case err != nil:
				f.Log.Warn("token file: line skipped", "at", at, "err", err)
			case token == "":
			default:
				if first, dup := where[token]; dup {
					f.Log.Warn("token file: token defined again; the later line counts", "at", at, "first", first)
				}
				targets[token], where[token] = target, at
				hosts[strings.ToLower(token)] = target // tokens differing in case only: the later line
			}
		}
	}
	f.stamp, f.targets, f.hosts = stamp, targets, hosts
	f.Log.Info("token file read", "path", f.Path, "files", len(files), "tokens", len(targets))
	return nil
}

// parseTokenLine reads "token: host:port" or "token: unix_socket:/path"; a
// blank line or a comment gives an empty token and no error.
func parseTokenLine(line string) (string, Target, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", Target{}, nil
	}
	// websockify splits at a colon followed by white space.
	i := -1
	for j := 0; j+1 < len(line) && i < 0; j++ {
		if line[j] == ':' && (line[j+1] == ' ' || line[j+1] == '\t') {
			i = j
		}
	}
	if i < 0 {
		return "", Target{}, errors.New(`want "token: host:port" or "token: unix_socket:/path"`)
	}
	token, target := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
	if token == "" {
		return "", Target{}, errors.New("empty token")
	}
	t, err := parseTarget(target)
	if err != nil {
		return "", Target{}, err
	}
	return token, t, nil
}

// parseTarget reads "host:port" or "unix_socket:/path".
func parseTarget(s string) (Target, error) {
	if path, ok := strings.CutPrefix(s, "unix_socket:"); ok {
		if path == "" {
			return Target{}, errors.New("unix_socket: without a path")
		}
		return Target{Network: "unix", Address: path}, nil
	}
	addr, err := ParseHostPort(s)
	if err != nil {
		return Target{}, err
	}
	return Target{Network: "tcp", Address: addr}, nil
}

// ParseHostPort checks a "host:port" target ("[v6]:port" for IPv6).
func ParseHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q is not host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q: %q is not a port (1-65535)", s, port)
	}
	return net.JoinHostPort(host, port), nil
}
