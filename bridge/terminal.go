package bridge

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/process"
	"github.com/wsbridge/wsbridge/wire"
)

// The terminal protocol (docs/terminal-protocol.md): binary messages carry
// terminal bytes both ways; text messages carry small JSON control messages.
// The client's first message is its size, and the program starts at it. The
// control messages and their parser are in package wire.

// A Resizer is a session on a terminal, sized by its client. The first size
// starts it.
type Resizer interface {
	Resize(cols, rows int) error
}

// flowWindow is how much terminal output may be sent and not yet
// acknowledged as rendered, when the client asks for flow control. Beyond it
// the PTY is not read, so a flood (cat of a huge file, yes) waits in the
// program instead of in a browser that cannot keep up.
const flowWindow = 256 << 10

// flow counts output sent and acknowledged.
type flow struct {
	mu      sync.Mutex
	on      bool
	unacked int64
	acked   chan struct{} // poked by every ack
}

func newFlow() *flow { return &flow{acked: make(chan struct{}, 1)} }

// room waits until the window has room, or until gone is closed (nobody is
// left to acknowledge), and says how many bytes may be read.
func (f *flow) room(gone <-chan struct{}) int {
	for {
		f.mu.Lock()
		on, free := f.on, flowWindow-f.unacked
		f.mu.Unlock()
		if !on {
			return flowWindow
		}
		if free > 0 {
			return int(free)
		}
		select {
		case <-f.acked:
		case <-gone:
			return flowWindow
		}
	}
}

func (f *flow) sent(n int) {
	f.mu.Lock()
	f.unacked += int64(n)
	f.mu.Unlock()
}

func (f *flow) ack(n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.unacked {
		return fmt.Errorf("ack of %d bytes, but %d are unacknowledged", n, f.unacked)
	}
	f.unacked -= n
	select {
	case f.acked <- struct{}{}:
	default:
	}
	return nil
}

// terminalInput handles one message in the terminal framing; false ends the
// input pump.
func (s *wsSession) terminalInput(mt int, msg []byte) bool {
	if mt == websocket.BinaryMessage {
		switch {
		case !s.sized:
			return s.protocolError("the first message must be a size message")
		case s.route.Terminal.ReadOnly:
			return true
		}
		if err := s.writeBackend(msg); err != nil {
			s.log.Debug("backend write", "err", err)
			return false
		}
		return true
	}
	c, err := wire.ParseControl(msg)
	if err != nil {
		return s.protocolError(err.Error())
	}
	if !s.sized && c.Type != "size" {
		return s.protocolError("the first message must be a size message")
	}
	switch c.Type {
	case "size":
		if !s.sized {
			s.sized = true
			s.flow.mu.Lock()
			s.flow.on = c.Flow
			s.flow.mu.Unlock()
		}
		if rz, ok := s.backend.(Resizer); ok {
			if err := rz.Resize(c.Cols, c.Rows); err != nil {
				s.log.Debug("resize", "err", err)
			}
		}
	case "ack":
		if err := s.flow.ack(c.Bytes); err != nil {
			return s.protocolError(err.Error())
		}
	}
	return true
}

// protocolError closes with 1008 and a reason, and stops the backend.
func (s *wsSession) protocolError(reason string) bool {
	s.sendClose(websocket.ClosePolicyViolation, reason)
	s.backend.Stop()
	s.cutAfter(closeWait)
	return false
}

// sendControl sends a control message (wire.Title, wire.Exit) to the
// client; called only from the output goroutine, the connection's one writer.
func (s *wsSession) sendControl(msg []byte) error {
	return s.conn.WriteMessage(websocket.TextMessage, msg)
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
			s.never = Ending{Code: websocket.CloseInternalServerErr, Reason: "cannot start the program", Status: "not started: " + err.Error()}
		}
		close(s.started)
	})
	<-s.started
	if first || s.p == nil {
		return nil
	}
	return s.p.Resize(size)
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
