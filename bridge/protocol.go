package bridge

import (
	"log/slog"
	"math"
)

// A protocol is the layer between a WebSocket's messages and a backend
// Session: what goes before the output, what a client's message does, how
// much output may go now, and what goes after it. The pumps (session.go)
// run every protocol alike. The stream framings (line, raw, binary) are the
// trivial one; the terminal (terminal.go) is the other.
//
// input is called by the input pump only; the rest by the output pump,
// except that room and sent may meet input's acknowledgements.
type protocol interface {
	// opening is a text message to send before any output; nil: none.
	opening() []byte
	// split cuts the next message out of the output, as Framing.Split.
	split(data []byte, max int, atEOF bool) (advance int, msg []byte, binary bool)
	// input handles a client's message and returns what the backend reads
	// (nil: nothing), or why the message breaks the protocol.
	input(mt int, msg []byte) ([]byte, error)
	// halfClose says whether a client's wire.EndOfInput lets the backend
	// run on to its end while the client waits.
	halfClose() bool
	// room waits until output may go and says how many bytes may be read
	// now; once gone is closed nobody is left to wait for.
	room(gone <-chan struct{}) int
	// sent counts output about to go, before the client can acknowledge it.
	sent(n int)
	// notice is a text message to send now, between output (nil: none),
	// such as how many watch a shared terminal.
	notice() []byte
	// closing is a text message to send after the output, before the close
	// frame; nil: none.
	closing(e Ending) []byte
}

// newProtocol is the route's protocol for one session.
func newProtocol(route *Route, backend Session, log *slog.Logger) protocol {
	if route.Terminal != nil {
		return newTerminal(route.Terminal, backend, log)
	}
	return stream{route.Framing}
}

// stream is the protocol of the stream framings: every message is input,
// output flows as it comes, a half-close is an EOF.
type stream struct{ framing Framing }

func (stream) opening() []byte { return nil }

func (p stream) split(data []byte, max int, atEOF bool) (int, []byte, bool) {
	return p.framing.Split(data, max, atEOF)
}

// input never returns nil: an empty message is written too, as it always was.
func (p stream) input(_ int, msg []byte) ([]byte, error) { return p.framing.Input(msg), nil }

func (stream) halfClose() bool          { return true }
func (stream) room(<-chan struct{}) int { return math.MaxInt }
func (stream) sent(int)                 {}
func (stream) notice() []byte           { return nil }
func (stream) closing(Ending) []byte    { return nil }
