package bridge

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/wsbridge/wsbridge/internal/utf8tail"
)

// Framing is how a backend's byte stream and WebSocket messages map onto each
// other. It is a pure codec: no I/O, so it can be tested and fuzzed alone.
type Framing int

const (
	// Line: each output line (without its "\n" or "\r\n") is a message; each
	// received message is written followed by "\n". websocketd's default.
	Line Framing = iota
	// Raw: output goes out as it arrives, in text messages; received messages
	// are written exactly as they are, with nothing appended.
	Raw
	// Binary: output goes out as it arrives, in binary messages; received
	// messages are written as they are. websocketd's --binary.
	Binary
	// Terminal: output goes out as Binary's; received binary messages are
	// terminal input and text messages are control messages (terminal.go).
	// The browser terminal's framing, chosen with --pty.
	Terminal
)

// ParseFraming reads a --framing value.
func ParseFraming(s string) (Framing, error) {
	switch s {
	case "line":
		return Line, nil
	case "raw":
		return Raw, nil
	case "binary":
		return Binary, nil
	}
	return 0, fmt.Errorf("unknown framing %q (want line, raw or binary)", s)
}

func (f Framing) String() string {
	return [...]string{"line", "raw", "binary", "terminal"}[f]
}

// Split finds the next outgoing message at the start of data, the backend's
// output not yet sent. It returns how many bytes of data the message uses up
// (0: wait for more output), the message, and whether it must go out as a
// binary message. No message is longer than max. atEOF says data is all that
// is left; then every byte is used up, none dropped.
//
// In the text framings a message that is not valid UTF-8 goes out as binary,
// since a browser fails the whole connection on an invalid text frame.
func (f Framing) Split(data []byte, max int, atEOF bool) (advance int, msg []byte, binary bool) {
	if len(data) == 0 {
		return 0, nil, false
	}
	switch f {
	case Binary, Terminal:
		n := min(len(data), max)
		return n, data[:n], true

	case Raw:
		n := min(len(data), max)
		if !atEOF {
			// Hold back a character cut in two by the read, unless nothing else
			// fits in the message.
			if k := n - utf8tail.Partial(data[:n]); k > 0 {
				n = k
			} else if len(data) < max {
				return 0, nil, false
			}
		}
		return n, data[:n], !utf8.Valid(data[:n])

	default: // Line
		if i := bytes.IndexByte(data[:min(len(data), max+1)], '\n'); i >= 0 {
			line := data[:i]
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
			return i + 1, line, !utf8.Valid(line)
		}
		if len(data) > max {
			// A line longer than max goes out in pieces, cut between characters
			// where one is near.
			n := max
			if k := n - utf8tail.Partial(data[:n]); k > 0 {
				n = k
			}
			return n, data[:n], !utf8.Valid(data[:n])
		}
		if atEOF {
			return len(data), data, !utf8.Valid(data)
		}
		return 0, nil, false
	}
}

// Input turns one received message into what the backend reads, appending to
// msg in place.
func (f Framing) Input(msg []byte) []byte {
	if f == Line {
		return append(msg, '\n')
	}
	return msg
}
