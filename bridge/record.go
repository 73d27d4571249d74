package bridge

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wsbridge/wsbridge/internal/asciicast"
)

// recording wraps a terminal session and writes it into an asciicast v2
// file: the header at the first size, then every output and resize. A
// recording that fails to write, or reaches max bytes, is logged and
// dropped; the session goes on.
type recording struct {
	sizedSession
	dir, command string
	max          int64 // 0: no limit
	log          *slog.Logger

	mu   sync.Mutex // Read and Resize come from different goroutines
	file *os.File
	cast *asciicast.Writer
}

func (r *recording) Resize(cols, rows int) error {
	err := r.sizedSession.Resize(cols, rows)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	switch {
	case r.cast != nil:
		r.check(r.cast.Resize(now, cols, rows))
	case r.file == nil && r.running():
		r.begin(now, cols, rows)
	}
	return err
}

// begin creates the file when the program starts, named by the time and
// the session's unique ID.
func (r *recording) begin(now time.Time, cols, rows int) {
	name := now.UTC().Format("20060102-150405") + "-" + uniqueID()[:12] + ".cast"
	f, err := os.OpenFile(filepath.Join(r.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		r.log.Error("cannot record the session", "err", err)
		return
	}
	r.file = f
	r.cast, err = asciicast.NewWriter(f, asciicast.Header{
		Width: cols, Height: rows, Command: r.command,
		Env: map[string]string{"TERM": "xterm-256color"},
	}, now)
	r.check(err)
	if r.cast != nil {
		r.cast.Limit(r.max)
		r.log.Info("recording", "file", f.Name())
	}
}

// WaitRead passes the wrapped session's on, so that an idle recorded
// session holds no buffer either.
func (r *recording) WaitRead() error {
	if w, ok := r.sizedSession.(readWaiter); ok {
		return w.WaitRead()
	}
	return nil
}

func (r *recording) Read(b []byte) (int, error) {
	n, err := r.sizedSession.Read(b)
	if n > 0 {
		r.mu.Lock()
		if r.cast != nil {
			r.check(r.cast.Output(time.Now(), b[:n]))
		}
		r.mu.Unlock()
	}
	return n, err
}

// check drops the recording after a write error or at its limit, logged once.
func (r *recording) check(err error) {
	switch {
	case err == nil || r.cast == nil:
		return
	case errors.Is(err, asciicast.ErrFull):
		r.log.Warn("recording stopped at its size limit; the session goes on unrecorded", "file", r.file.Name(), "limit", r.max)
	default:
		r.log.Error("recording failed; the session goes on unrecorded", "file", r.file.Name(), "err", err)
	}
	r.cast = nil
}

func (r *recording) Close() error {
	err := r.sizedSession.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cast != nil {
		r.check(r.cast.Close(time.Now()))
	}
	if r.file != nil {
		r.file.Close()
	}
	return err
}

// commandLine is a program and its arguments as a shell would read them, for
// a recording's header.
func commandLine(prog string, args []string) string {
	words := []string{prog}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
