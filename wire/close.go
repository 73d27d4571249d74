// Package wire is the protocol that the server (package bridge) and its
// client (package connect) share: close codes, an ending as an error value,
// the half-close handshake header and the terminal's control messages
// (docs/terminal-protocol.md). It knows no connection: everything here is a
// value, a constant or a pure function.
package wire

import (
	"errors"
	"fmt"
)

// A CloseCode is a WebSocket close frame's status code: RFC 6455's, and
// wsbridge's own in the private range 4000-4999.
type CloseCode int

// The RFC 6455 codes wsbridge sends or reads.
const (
	NormalClosure    CloseCode = 1000
	GoingAway        CloseCode = 1001 // shutdown, --idle-timeout, a client gone
	ProtocolError    CloseCode = 1002
	NoStatusReceived CloseCode = 1005 // a close frame without a code (never sent)
	InvalidPayload   CloseCode = 1007 // invalid UTF-8 in a text message
	PolicyViolation  CloseCode = 1008 // a terminal client broke its protocol
	MessageTooBig    CloseCode = 1009
	InternalError    CloseCode = 1011 // exit status unknown, cannot start
	BadGateway       CloseCode = 1014 // the backend failed
)

// wsbridge's codes. A client reads a program's exact exit status or signal
// from the code alone; the reason says the same in words.
const (
	ExitBase   CloseCode = 4000 // + exit status 1..255
	SignalBase CloseCode = 4300 // + signal number 1..127

	// EndOfInput is a client's close code for "my input is over; send the
	// rest of your answer": the backend gets EOF and runs to its end while
	// the client stays connected, instead of climbing the signal ladder
	// (exec) or being cut after the grace (TCP). `wsbridge connect` closes
	// with it at the end of its input, to a server that sent HalfCloseHeader.
	// Any other close gives the backend EOF, then the ladder.
	EndOfInput CloseCode = 4500
)

// HalfCloseHeader, in the handshake's answer, tells a client that this
// server takes EndOfInput as a half-close (its value is the code), so the
// client may close at the end of its input without cutting the answer short.
// Other servers (websocketd, websockify) end the session at any close.
const HalfCloseHeader = "Wsbridge-Half-Close"

// ExitCode is the close code for a program that exited with status:
// NormalClosure for 0, ExitBase+status for 1..255.
func ExitCode(status int) CloseCode {
	if status == 0 {
		return NormalClosure
	}
	return ExitBase + CloseCode(status)
}

// SignalCode is the close code for a program killed by signal sig.
func SignalCode(sig int) CloseCode { return SignalBase + CloseCode(sig) }

// ExitStatus reads back ExitCode: the exit status c carries, and whether it
// carries one (NormalClosure reads as 0, 4001-4255 as 1-255).
func (c CloseCode) ExitStatus() (int, bool) {
	switch {
	case c == NormalClosure:
		return 0, true
	case c > ExitBase && c <= ExitBase+255:
		return int(c - ExitBase), true
	}
	return 0, false
}

// Signal reads back SignalCode: the signal c carries (4301-4427), and
// whether it carries one.
func (c CloseCode) Signal() (int, bool) {
	if c > SignalBase && c < SignalBase+128 {
		return int(c - SignalBase), true
	}
	return 0, false
}

// An Ending is how a session ended, as its close frame says: a code and a
// reason (at most 123 bytes). It is an error, so that an ending can travel as
// one; CloseStatus reads its code back.
type Ending struct {
	Code   CloseCode
	Reason string
}

func (e Ending) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed with %d", int(e.Code))
	}
	return fmt.Sprintf("closed with %d (%s)", int(e.Code), e.Reason)
}

// CloseStatus is the close code of the Ending in err's chain, or -1 when
// there is none.
func CloseStatus(err error) CloseCode {
	var e Ending
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}
