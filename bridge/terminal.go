package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
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

// terminal is the terminal protocol: it owns the size, the flow window,
// the title, read-only and the exit message. Its program starts at the
// first size (see Pty), and output waits for it.
type terminal struct {
	opts    *web.Terminal
	backend Session // resized by size messages
	log     *slog.Logger
	*flow
	sized bool // the first size message has come (input only)
}

func newTerminal(opts *web.Terminal, backend Session, log *slog.Logger) *terminal {
	return &terminal{opts: opts, backend: backend, log: log, flow: newFlow()}
}

func (t *terminal) opening() []byte {
	if t.opts.Title == "" {
		return nil
	}
	return wire.Title{Title: t.opts.Title}.Marshal()
}

func (t *terminal) split(data []byte, max int, atEOF bool) (int, []byte, bool) {
	return Terminal.Split(data, max, atEOF)
}

// input takes binary messages as terminal input and text messages as
// control messages.
func (t *terminal) input(mt int, msg []byte) ([]byte, error) {
	if mt == websocket.BinaryMessage {
		switch {
		case !t.sized:
			return nil, errors.New("the first message must be a size message")
		case t.opts.ReadOnly:
			return nil, nil
		}
		return msg, nil
	}
	c, err := wire.ParseControl(msg)
	if err != nil {
		return nil, err
	}
	if !t.sized && c.Type != "size" {
		return nil, errors.New("the first message must be a size message")
	}
	switch c.Type {
	case "size":
		if !t.sized {
			t.sized = true
			t.flow.mu.Lock()
			t.flow.on = c.Flow
			t.flow.mu.Unlock()
		}
		if rz, ok := t.backend.(Resizer); ok {
			if err := rz.Resize(c.Cols, c.Rows); err != nil {
				t.log.Debug("resize", "err", err)
			}
		}
	case "ack":
		if err := t.flow.ack(c.Bytes); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// A noticer is a session with notices for its client (a lasting
// terminal's subscriber); its Read returns 0 bytes when one waits.
type noticer interface {
	notice() []byte
}

func (t *terminal) notice() []byte {
	if n, ok := t.backend.(noticer); ok {
		return n.notice()
	}
	return nil
}

// halfClose is false: a terminal has no end of input, only a hangup.
func (t *terminal) halfClose() bool { return false }

func (t *terminal) closing(e Ending) []byte {
	return wire.Exit{Code: e.Code, Reason: e.Reason}.Marshal()
}
