package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/process"
)

// Pty is the backend that starts a program on a pseudo-terminal of its own
// for each WebSocket, at the size the client's first message gives (the
// terminal protocol, terminal.go).
type Pty struct {
	Program
	// LoginEnv is a login's environment (see LoginEnv), under BaseEnv and
	// the request's variables: they win.
	LoginEnv []string
	// Record, if set, writes each session into this folder as an asciicast
	// v2 file.
	Record string
	// RecordMax caps each recording at this many bytes (and a last event
	// that says so); 0: no cap.
	RecordMax int64
	// Linger, if set, makes terminals last (lasting.go): a program runs on
	// this long after its last client left, and a client that comes back
	// with the terminal's id gets its screen back.
	Linger time.Duration
	// Scrollback bounds, in bytes, the output a lasting terminal keeps for
	// clients that come back or watch; 0: 1 MiB.
	Scrollback int
	// MaxTerminals bounds the lasting terminals that run at once, those
	// nobody watches included: a new one beyond is refused (429), a
	// reattach is not; 0: no bound. (The route's MaxSessions bounds the
	// clients attached.)
	MaxTerminals int
	// OneWriter lets only the writer that attached last type into a
	// lasting terminal; other writers' keys are dropped until it leaves.
	OneWriter bool

	terms  atomic.Pointer[lastingTerms] // see lasting
	handed atomic.Bool                  // its terminals went to the route that replaced it
}

// Kind is "pty" (see BackendKind).
func (t *Pty) Kind() string { return "pty" }

// Open prepares the program, which starts at the client's first size;
// with Linger, on a lasting terminal, new or the one the request names.
func (t *Pty) Open(r *http.Request) (Session, error) {
	if t.Linger > 0 {
		return t.openLasting(r)
	}
	return t.openOne(r)
}

// openOne prepares one program on its own terminal.
func (t *Pty) openOne(r *http.Request) (sizedSession, error) {
	spec, err := t.spec(r)
	if err != nil {
		return nil, err
	}
	// os/exec keeps the last of duplicate names: LoginEnv goes first.
	spec.Env = append(slices.Clip(t.LoginEnv), spec.Env...)
	s := newPTYSession(spec, t.start)
	if t.Record != "" {
		return &recording{sizedSession: s, dir: t.Record, max: t.RecordMax, command: commandLine(spec.Path, spec.Args), log: t.Log}, nil
	}
	return s, nil
}

// A sizedSession is a Session on a terminal: sized by its client, its
// program starts at the first size. Recording wraps any.
type sizedSession interface {
	Session
	Resizer
	// running waits for the start and says whether the program runs.
	running() bool
}

// sizeWait bounds how long a terminal session waits for its first size.
var sizeWait = 10 * time.Second

// ptySession is a program on a pseudo-terminal that starts at the first size
// its client sends.
type ptySession struct {
	spec    process.Spec
	start   func(process.Spec) (*process.Process, error)
	timer   *time.Timer
	once    sync.Once
	started chan struct{} // closed once the program runs or never will
	p       *process.Process
	never   Ending // why it never ran, when p is nil
}

func newPTYSession(spec process.Spec, start func(process.Spec) (*process.Process, error)) *ptySession {
	s := &ptySession{spec: spec, start: start, started: make(chan struct{})}
	s.timer = time.AfterFunc(sizeWait, func() {
		s.abort(Ending{Code: websocket.ClosePolicyViolation, Reason: fmt.Sprintf("no size message within %v", sizeWait), Status: "not started"})
	})
	return s
}

func (s *ptySession) abort(e Ending) {
	s.once.Do(func() {
		s.never = e
		close(s.started)
	})
}

func (s *ptySession) Resize(cols, rows int) error {
	size := process.Size{Cols: cols, Rows: rows}
	first := false
	s.once.Do(func() {
		first = true
		s.timer.Stop()
		spec := s.spec
		spec.TTY = &size
		var err error
		if s.p, err = s.start(spec); err != nil {
			s.never = startFailed(err)
		}
		close(s.started)
	})
	<-s.started
	if first || s.p == nil {
		return nil
	}
	return s.p.Resize(size)
}

// startFailed is the ending of a terminal whose program could not start
// (after the upgrade, at the first size): for want of something that comes
// back (no pseudo-terminal or process left), 1013, to try again later, as
// the handshake's 503 for exec.
func startFailed(err error) Ending {
	if outOfResources(err) || errors.Is(err, syscall.EAGAIN) {
		return Ending{Code: websocket.CloseTryAgainLater, Reason: "cannot start a terminal now", Status: "not started: " + err.Error()}
	}
	return Ending{Code: websocket.CloseInternalServerErr, Reason: "cannot start the program", Status: "not started: " + err.Error()}
}

// running waits for the start and says whether the program runs.
func (s *ptySession) running() bool {
	<-s.started
	return s.p != nil
}

func (s *ptySession) Read(b []byte) (int, error) {
	if !s.running() {
		return 0, io.EOF
	}
	return s.p.Read(b)
}

func (s *ptySession) WaitRead() error {
	if !s.running() {
		return nil // Read says it is over
	}
	return s.p.WaitRead()
}

func (s *ptySession) Write(b []byte) (int, error) {
	select {
	case <-s.started:
	default:
		return 0, errors.New("the terminal has not started")
	}
	if s.p == nil {
		return 0, io.ErrClosedPipe
	}
	return s.p.Write(b)
}

func (s *ptySession) CloseWrite() error { return nil } // a terminal hangs up on Stop

func (s *ptySession) Stop() {
	s.abort(Ending{Code: websocket.CloseNormalClosure, Reason: "closed before the terminal started", Status: "not started"})
	if s.p != nil {
		s.p.Stop()
	}
}

func (s *ptySession) Wait() Ending {
	if !s.running() {
		return s.never
	}
	return processSession{s.p}.Wait()
}

func (s *ptySession) Close() error {
	s.Stop()
	if s.p != nil {
		return s.p.Close()
	}
	return nil
}
