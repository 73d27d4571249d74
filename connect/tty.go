package connect

import (
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
	"golang.org/x/term"
)

// The terminal protocol (docs/terminal-protocol.md), for --tty: the local
// terminal attached to a `wsbridge --pty` endpoint, as the browser page is.

// startTerminal sends the first size message and, when in is a terminal,
// puts it in raw mode (keys, Ctrl-C included, go to the remote program) and
// follows its resizes until done closes. restore puts the terminal back.
func (s *stream) startTerminal(in io.Reader, done <-chan struct{}) (restore func(), err error) {
	restore = func() {}
	f, _ := in.(*os.File)
	tty := f != nil && term.IsTerminal(int(f.Fd()))
	cols, rows := 80, 24
	if tty {
		if c, r, err := term.GetSize(int(f.Fd())); err == nil && c > 0 && r > 0 {
			cols, rows = c, r
		}
	}
	if err := s.sendSize(cols, rows); err != nil {
		return restore, s.ended(err)
	}
	if !tty {
		return restore, nil
	}
	state, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return restore, &Error{ExitUsage, "--tty: " + err.Error()}
	}
	stop := watchResize(f, done, func(c, r int) { s.sendSize(c, r) })
	return func() {
		stop()
		term.Restore(int(f.Fd()), state)
	}, nil
}

// withSession is u with ?session=id: the dial that reattaches to a lasting
// terminal.
func withSession(u *url.URL, id string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(wire.SessionParam, id)
	c.RawQuery = q.Encode()
	return &c
}

func (s *stream) sendSize(cols, rows int) error {
	return s.write(websocket.TextMessage, wire.Control{Type: wire.TypeSize, Cols: cols, Rows: rows}.Marshal())
}

// control handles a control message from the server: a title goes to the
// terminal as it would from a program (OSC 0); a lasting terminal's id is
// kept for --reconnect; the rest (exit: the close frame that follows says
// the same) is not shown.
func (s *stream) control(r io.Reader, out io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil // as a message it cannot parse
	}
	msg, err := wire.ParseServerMessage(b)
	if err != nil {
		return nil // a receiver ignores what it does not know
	}
	if msg.Type == wire.TypeSession && msg.ID != "" {
		if s.o.reattach != "" && msg.ID != s.o.reattach {
			// The server no longer knows the terminal (it ended, its
			// linger ran out, or the server restarted) and started a new
			// one: typing on into that would be typing into another program.
			return &Error{ExitLost, "the terminal is gone: it ended, or the server forgot it, while the connection was lost"}
		}
		s.sessionID = msg.ID // --reconnect reattaches with it
	}
	if msg.Type == wire.TypeTitle {
		title := strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, msg.Title)
		if _, err := io.WriteString(out, "\x1b]0;"+title+"\x07"); err != nil {
			return &Error{ExitLost, "writing output: " + err.Error()}
		}
	}
	return nil
}
