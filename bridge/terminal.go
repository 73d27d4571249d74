package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

// flowWindow is the most terminal output that may be sent and not yet
// acknowledged as rendered, when the client asks for flow control, and the
// window a session starts with. Beyond the window the PTY is not read, so a
// flood (cat of a huge file, yes) waits in the program instead of in a
// browser or a link that cannot keep up.
//
// The window follows the client's drain rate, measured from its
// acknowledgements (see flow.measure): the rate times flowBacklog plus the
// link's round trip, between flowFloor and flowWindow. Over a slow link a
// fixed 256 KiB would be seconds of output on its way when Ctrl-C stops
// the program; a fast link still gets the whole window.
const (
	flowWindow  = 256 << 10
	flowFloor   = 64 << 10 // twice the page's acknowledgement batch (32 KiB)
	flowBacklog = 250 * time.Millisecond
)

// flow counts output sent and acknowledged, and sizes the window by the
// rate acknowledgements come at.
type flow struct {
	mu      sync.Mutex
	on      bool
	unacked int64
	acked   chan struct{} // poked by every ack
	window  int64         // what may be unacknowledged now

	// One message at a time is a probe (as TCP times one segment): when
	// the ack that covers it comes, the bytes acknowledged since it went,
	// over the time since, is a sample of the drain rate, and the time
	// since is a sample of the round trip (a message, its ack).
	sentTotal, ackedTotal int64
	probing               bool
	probeEnd              int64     // sentTotal after the probe
	probeAcked            int64     // ackedTotal when it went
	probeAt               time.Time // when it went
	probeAcks             int       // acks since it went
	full                  bool      // the window held output back since the probe went
	measured              bool      // a sample has set the window
	minRTT                time.Duration
	now                   func() time.Time // time.Now; tests set a clock
}

func newFlow() *flow {
	return &flow{acked: make(chan struct{}, 1), window: flowWindow, now: time.Now}
}

// room waits until the window has room, or until gone is closed (nobody is
// left to acknowledge), and says how many bytes may be read.
func (f *flow) room(gone <-chan struct{}) int {
	for {
		f.mu.Lock()
		on, free := f.on, f.window-f.unacked
		if on && free <= 0 {
			f.full = true // the client, not the program, sets the pace
		}
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
	f.sentTotal += int64(n)
	if !f.probing { // without flow control, the first message stays the probe
		f.probing, f.full, f.probeAcks = true, false, 0
		f.probeEnd, f.probeAcked, f.probeAt = f.sentTotal, f.ackedTotal, f.now()
	}
	f.mu.Unlock()
}

func (f *flow) ack(n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.unacked {
		return fmt.Errorf("ack of %d bytes, but %d are unacknowledged", n, f.unacked)
	}
	f.unacked -= n
	f.ackedTotal += n
	f.probeAcks++
	if f.probing && f.ackedTotal >= f.probeEnd {
		f.probing = false
		f.measure(f.now().Sub(f.probeAt), f.ackedTotal-f.probeAcked)
	}
	select {
	case f.acked <- struct{}{}:
	default:
	}
	return nil
}

// measure takes a sample: bytes acknowledged over d, the time from a
// probe's sending to its ack. The window is the sample's rate times
// flowBacklog and the shortest round trip seen (what is in flight plus a
// quarter second of backlog); it grows to at most twice what the sample saw
// acknowledged, so that a few bytes that went fast (an idle link's burst)
// do not open it all at once: a window that sets the pace doubles each
// round trip. When the window held output back meanwhile, the sample is
// the client's pace (or its link's), over at least a window of output, and
// sets the window, if acks came in it as the client drew the output (not
// one ack after a silence). Otherwise the program set the pace, and the
// sample may only open the window (a pause cannot make a client seem
// slower than it is); but the first sets it (the window a session starts
// with is a guess).
func (f *flow) measure(d time.Duration, bytes int64) {
	d = max(d, time.Microsecond)
	if f.minRTT == 0 || d < f.minRTT {
		f.minRTT = d
	}
	rate := float64(bytes) / d.Seconds()
	w := rate * (flowBacklog + f.minRTT).Seconds()
	if w > float64(f.window) {
		w = min(w, max(float64(f.window), 2*float64(bytes)))
	}
	w = min(max(w, flowFloor), flowWindow)
	switch {
	case f.full && f.probeAcks < 2:
		// One ack for a full window, after a silence: the client was
		// away (a stalled tab, or one that acks when it likes), which
		// says nothing of its pace. The window stays, so the ack lets as
		// much more go.
		return
	case f.full || !f.measured:
		f.window = int64(w)
	default:
		f.window = max(f.window, int64(w))
	}
	f.measured = true
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
