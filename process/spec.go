// Package process starts a program with pipes in its own process group, or on
// a pseudo-terminal in its own session, takes the whole group (or session) down
// with a signal ladder, and reports how the program ended. It knows nothing of
// WebSockets.
package process

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Spec says what to start and how to treat it.
type Spec struct {
	Path string   // the executable, already resolved
	Args []string // argv[1:]
	Env  []string // the whole environment; nothing is inherited
	Dir  string   // working directory; empty means wsbridge's own

	// Stderr receives the program's standard error. An *os.File is handed to the
	// child as it is (nothing in between can block it); nil means StderrLine.
	Stderr *os.File
	// StderrLine is called for each stderr line, cut to MaxStderrLine bytes, when
	// Stderr is nil. The rest of an overlong line is read and dropped so the child
	// never blocks on a full pipe.
	StderrLine func(line string, truncated bool)
	// StderrPieces hands an overlong line to StderrLine in pieces of
	// MaxStderrLine bytes (truncated: more follows) instead of dropping its
	// rest, for a caller that sends stderr on rather than logging it.
	StderrPieces bool

	// Grace is added to every wait of the signal ladder (websocketd's --closems).
	Grace time.Duration

	// Mark, if set, is an entry of Env ("NAME=VALUE") unique to this run.
	// Descendants inherit it, so an orphan adopted by the Subreaper is known
	// as this run's until Close, and killed then.
	Mark string

	// TTY, if set, starts the program on a new pseudo-terminal of this size,
	// as the leader of a new session: its stdin, stdout and stderr are the
	// terminal, and Stderr and StderrLine are unused.
	TTY *Size

	// Unbuffer, without TTY, makes standard output a pseudo-terminal in raw
	// mode instead of a pipe, so that C stdio, Python and others flush each
	// line as on a console; stdin stays a pipe (CloseWrite is its EOF) and
	// stderr is as above. The terminal is not the program's controlling
	// terminal: the program stays in wsbridge's session, in a group of its
	// own, and is stopped, killed and reaped as on pipes. Not on Windows:
	// Start fails.
	Unbuffer bool
}

// MaxStderrLine bounds what one stderr line may cost in a log.
const MaxStderrLine = 4096

// Size is a terminal's size in character cells.
type Size struct {
	Cols, Rows int
}

// MaxSize bounds either side of a terminal, as the kernel's winsize does.
const MaxSize = 0xffff

// Status is how a program ended: an exit code, or the signal that killed it.
type Status struct {
	Code   int            // exit code when Signal is 0
	Signal syscall.Signal // the killing signal, or 0
	Err    error          // set when the status could not be learned
}

func statusOf(ps *os.ProcessState, err error) Status {
	if ps == nil {
		return Status{Code: -1, Err: err}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

// String reads "exit 3" or "signal 9 (killed)".
func (s Status) String() string {
	switch {
	case s.Err != nil:
		return "unknown: " + s.Err.Error()
	case s.Signal != 0:
		return fmt.Sprintf("signal %d (%s)", int(s.Signal), s.Signal)
	default:
		return fmt.Sprintf("exit %d", s.Code)
	}
}

// scanStderr hands what r reads to fn a line at a time, cut to
// MaxStderrLine (in pieces, with pieces), until r ends.
func scanStderr(r io.Reader, fn func(string, bool), pieces bool) {
	br := bufio.NewReaderSize(r, MaxStderrLine)
	skipping := false // inside the dropped rest of an overlong line
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if !skipping && fn != nil {
				fn(string(line), true)
			}
			skipping = !pieces
			continue
		case len(line) > 0 && !skipping && fn != nil:
			fn(string(trimEOL(line)), false)
		}
		skipping = false
		if err != nil {
			return
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}
