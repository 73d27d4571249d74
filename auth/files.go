package auth

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/wsbridge/wsbridge/internal/filestamp"
	"golang.org/x/crypto/bcrypt"
)

// lineFile is a file of entries, one per line (blank lines and # comments
// skipped), read again when it changes. A bad line is logged with its file
// and line number and skipped; a file that disappears holds no entries.
// Errors name the file; log lines start with its name.
type lineFile[T any] struct {
	path  string
	name  string // where the file was given (a flag, a config key), for log lines
	parse func(line string) (T, error)
	log   *slog.Logger

	mu      sync.Mutex
	stamp   string
	entries []T
}

// load reads the file at start, where a missing file is an error.
func (f *lineFile[T]) load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, err := filestamp.Of(f.path)
	if err != nil {
		return err // it names the file
	}
	return f.read(stamp)
}

// current returns the entries, re-reading the file if it changed.
func (f *lineFile[T]) current() []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, err := filestamp.Of(f.path)
	if err != nil {
		stamp = "error: " + err.Error()
	}
	if stamp != f.stamp {
		f.stamp, f.entries = stamp, nil
		if err != nil {
			f.log.Error(f.name+": no entries until the file is back", "err", err)
		} else if err := f.read(stamp); err != nil {
			f.log.Error(f.name+": no entries", "err", err)
		}
	}
	return f.entries
}

func (f *lineFile[T]) read(stamp string) error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, errors.Unwrap(err))
	}
	var entries []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := f.parse(line)
		if err != nil {
			f.log.Warn(f.name+": line skipped", "at", fmt.Sprintf("%s:%d", f.path, n), "err", err)
			continue
		}
		entries = append(entries, e)
	}
	f.stamp, f.entries = stamp, entries
	f.log.Info(f.name+" read", "path", f.path, "entries", len(entries))
	return nil
}

// Htpasswd checks Basic credentials against an htpasswd file of bcrypt
// hashes (htpasswd -B), re-read when it changes.
type Htpasswd struct {
	file lineFile[htpasswdEntry]

	mu      sync.Mutex
	dummies map[int][]byte // by cost: made once each, as bcrypt is slow on purpose
}

type htpasswdEntry struct {
	user string
	hash []byte
	cost int
}

// NewHtpasswd reads the file; a missing file is an error, a bad line is not.
// name says in log lines where the file was given, such as "--htpasswd" or
// a config file's key; empty: "htpasswd file".
func NewHtpasswd(path, name string, log *slog.Logger) (*Htpasswd, error) {
	h := &Htpasswd{file: lineFile[htpasswdEntry]{path: path, name: cmp.Or(name, "htpasswd file"), log: log, parse: parseHtpasswd}}
	if err := h.file.load(); err != nil {
		return h, err
	}
	h.dummy(h.file.current()) // made now rather than on the first request
	return h, nil
}

func parseHtpasswd(line string) (htpasswdEntry, error) {
	user, hash, ok := strings.Cut(line, ":")
	if !ok || user == "" {
		return htpasswdEntry{}, errors.New(`want "user:hash"`)
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return htpasswdEntry{}, fmt.Errorf("user %q: not a bcrypt hash (create it with htpasswd -B)", user)
	}
	return htpasswdEntry{user, []byte(hash), cost}, nil
}

// dummy is the hash compared against when the user is unknown. Its cost is
// the most common one among the entries (htpasswd -B writes 5, Go's default
// is 10), so the time an answer takes does not tell which users exist.
func (h *Htpasswd) dummy(entries []htpasswdEntry) []byte {
	var counts [bcrypt.MaxCost + 1]int
	cost := bcrypt.DefaultCost
	for _, e := range entries {
		if counts[e.cost]++; counts[e.cost] > counts[cost] {
			cost = e.cost
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dummies[cost] == nil {
		if h.dummies == nil {
			h.dummies = map[int][]byte{}
		}
		h.dummies[cost], _ = bcrypt.GenerateFromPassword([]byte("not a password"), cost)
	}
	return h.dummies[cost]
}

func (h *Htpasswd) Name() string      { return "htpasswd" }
func (h *Htpasswd) Challenge() string { return `Basic realm="wsbridge", charset="UTF-8"` }

func (h *Htpasswd) Check(r *http.Request) (Identity, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Identity{}, errNoCredentials
	}
	entries := h.file.current()
	hash, known := h.dummy(entries), false
	for _, e := range entries {
		if e.user == user {
			hash, known = e.hash, true
		}
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		return Identity{}, fmt.Errorf("wrong user or password for %q", user)
	}
	return Identity{User: user, Type: "Basic"}, nil
}

// BearerFile accepts the tokens listed in a file, one per line as "TOKEN" or
// "USER TOKEN" (USER becomes REMOTE_USER), re-read when it changes.
type BearerFile struct {
	file   lineFile[bearerEntry]
	source TokenSource
}

type bearerEntry struct {
	user string
	sum  [32]byte
}

// NewBearerFile reads the file; a missing file is an error, a bad line is
// not. name is as NewHtpasswd's; empty: "bearer token file".
func NewBearerFile(path, name string, source TokenSource, log *slog.Logger) (*BearerFile, error) {
	b := &BearerFile{lineFile[bearerEntry]{path: path, name: cmp.Or(name, "bearer token file"), log: log, parse: parseBearer}, source}
	return b, b.file.load()
}

func parseBearer(line string) (bearerEntry, error) {
	fields := strings.Fields(line)
	switch len(fields) {
	case 1:
		return bearerEntry{sum: sha256.Sum256([]byte(fields[0]))}, nil
	case 2:
		return bearerEntry{user: fields[0], sum: sha256.Sum256([]byte(fields[1]))}, nil
	}
	return bearerEntry{}, errors.New(`want "TOKEN" or "USER TOKEN"`)
}

func (b *BearerFile) Name() string             { return "bearer token" }
func (b *BearerFile) Challenge() string        { return `Bearer realm="wsbridge"` }
func (b *BearerFile) tokenSource() TokenSource { return b.source }

func (b *BearerFile) Check(r *http.Request) (Identity, error) {
	tok := b.source.token(r)
	if tok == "" {
		return Identity{}, errNoCredentials
	}
	sum := sha256.Sum256([]byte(tok))
	found, user := 0, ""
	for _, e := range b.file.current() { // every entry, so the time says nothing
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found, user = 1, e.user
		}
	}
	if found == 0 {
		return Identity{}, errors.New("unknown token")
	}
	return Identity{User: user, Type: "Bearer"}, nil
}
