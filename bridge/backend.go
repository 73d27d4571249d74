package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"github.com/wsbridge/wsbridge/wire"
)

// A Backend opens one Session for each accepted WebSocket. Open runs before
// the upgrade is answered, so a client that gets 101 has a live session and a
// failure becomes an HTTP error (return an *HTTPError to choose the status).
type Backend interface {
	Open(r *http.Request) (Session, error)
}

// BackendKind names a backend's kind for observers, one of a small fixed
// set: "exec", "pty", "tcp", "unix", "tokens"; "other" for a backend without
// a Kind method.
func BackendKind(b Backend) string {
	if k, ok := b.(interface{ Kind() string }); ok {
		return k.Kind()
	}
	return "other"
}

// A Session is one backend connection: a process, a TCP or a unix socket.
// Read is its output, Write its input. One goroutine reads while another
// writes and a third may call Stop.
type Session interface {
	io.Reader
	io.Writer
	// CloseWrite ends the input (EOF on stdin, a TCP half-close); output may
	// still follow.
	CloseWrite() error
	// Stop asks the session to end, gracefully but within a bounded time
	// (a process: stdin EOF, then the signal ladder), and returns at once.
	// Output produced meanwhile may still be read.
	Stop()
	// Wait blocks until the session has ended and says why, as the close frame
	// that tells the client.
	Wait() Ending
	// Close releases everything the session holds. Called once, last.
	Close() error
}

// A readWaiter is a Session that can wait for output without a buffer to
// read it into, so that an idle session holds none. The error, if any, is
// the next Read's too.
type readWaiter interface {
	WaitRead() error
}

// An idleReader is a Session that reads as a plain reader does (a read,
// and after a wait another) while holding a buffer only when there is
// something to read: readIdle reads at most room bytes into rb's buffer,
// taken when something comes and given back while it waits, as Read
// does, errors and the end included. It saves the poll(2) a readWaiter's
// wait costs before it and after it.
type idleReader interface {
	readIdle(rb *readBuffer, room int) (int, error)
}

// Ending is why a session ended, in WebSocket terms: the close frame
// (wire.Ending) and a word for the access log.
type Ending struct {
	Code   wire.CloseCode // close code
	Reason string         // close reason, at most 123 bytes
	Status string         // for the access log, e.g. "exit 3"
}

// HTTPError is an answer given instead of the upgrade.
type HTTPError struct {
	Status  int
	Message string
	Header  http.Header // extra response headers, such as Retry-After
	// Refusal is why, for observers; 0: read from Status (404 not found,
	// 503 out of resources, 504 dial timeout, 500 spawn failed, others
	// dial failed).
	Refusal Refusal
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

func httpErrorf(status int, format string, args ...any) *HTTPError {
	return &HTTPError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// outOfResources says that err is a limit of wsbridge or the machine (open
// files, memory, pseudo-terminals), not a fault of the backend: the client
// may retry. ENOSPC is what opening /dev/ptmx answers once every terminal
// the kernel allows (kernel.pty.max, or its devpts's max=) is open.
func outOfResources(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOSPC} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// busyError answers a session that could not open for outOfResources: 503,
// and when to try again.
func busyError(message string) *HTTPError {
	return &HTTPError{Status: http.StatusServiceUnavailable, Message: message, Header: http.Header{"Retry-After": {"1"}}, Refusal: RefusedOutOfResources}
}
