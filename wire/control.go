package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The terminal protocol (docs/terminal-protocol.md): binary messages carry
// terminal bytes both ways; text messages carry small JSON control messages,
// each with a "type". A receiver ignores the types it does not know.

// Control message types.
const (
	TypeSize  = "size"  // client: the terminal's size; the first message
	TypeAck   = "ack"   // client: bytes rendered, under flow control
	TypeTitle = "title" // server: the tab's title
	TypeExit  = "exit"  // server: how the session ended
	// server, with a lasting terminal: its credentials, to reattach or share
	TypeSession  = "session"
	TypeWatchers = "watchers" // server: how many clients watch the terminal
	TypeReplayed = "replayed" // server: the output kept from before has all been sent
)

// The query parameters of a lasting terminal's WebSocket URL.
const (
	SessionParam = "session" // reattach, as a writer, to the terminal of this id
	WatchParam   = "watch"   // join, read-only, the terminal of this token
)

// MaxSize bounds either side of a terminal, as the kernel's winsize does
// (process.MaxSize).
const MaxSize = 0xffff

// Control is a control message from the client.
type Control struct {
	Type  string `json:"type"`            // TypeSize or TypeAck; others are ignored
	Cols  int    `json:"cols,omitempty"`  // size
	Rows  int    `json:"rows,omitempty"`  // size
	Flow  bool   `json:"flow,omitempty"`  // first size: the client acknowledges output
	Bytes int64  `json:"bytes,omitempty"` // ack: this many more bytes were rendered
}

// ParseControl reads a control message from the client. It is pure, for
// tests and fuzzing.
func ParseControl(msg []byte) (Control, error) {
	var c Control
	if err := json.Unmarshal(msg, &c); err != nil {
		return c, errors.New("a text message must be a JSON control message")
	}
	switch c.Type {
	case TypeSize:
		if c.Cols < 1 || c.Rows < 1 || c.Cols > MaxSize || c.Rows > MaxSize {
			return c, fmt.Errorf("size %dx%d out of range", c.Cols, c.Rows)
		}
	case TypeAck:
		if c.Bytes < 0 {
			return c, errors.New("negative ack")
		}
	case "":
		return c, errors.New("a control message needs a type")
	}
	return c, nil
}

// Marshal is the message's text, e.g. {"type":"size","cols":80,"rows":24}.
func (c Control) Marshal() []byte { return marshal(c) }

// Title is the server's first message with --title: the tab's title.
type Title struct {
	Title string
}

// Marshal is the message's text: {"title":"...","type":"title"} (in the
// order the server has always sent).
func (t Title) Marshal() []byte {
	return marshal(struct {
		Title string `json:"title"`
		Type  string `json:"type"`
	}{t.Title, TypeTitle})
}

// Exit says how the session ended, as the close frame that follows does,
// for clients that cannot read close frames.
type Exit Ending

// Marshal is the message's text: {"type":"exit","code":4003,"reason":"exit 3"}.
func (e Exit) Marshal() []byte {
	return marshal(struct {
		Type   string    `json:"type"`
		Code   CloseCode `json:"code"`
		Reason string    `json:"reason"`
	}{TypeExit, e.Code, e.Reason})
}

// Session is a lasting terminal's first message: ID reattaches to it (as
// ?session=ID, writing), Watch lets others watch it (?watch=TOKEN,
// read-only). A watcher gets only Watch. Both are credentials.
type Session struct {
	ID    string
	Watch string
}

// Marshal is the message's text: {"type":"session","id":"...","watch":"..."}.
func (s Session) Marshal() []byte {
	return marshal(struct {
		Type  string `json:"type"`
		ID    string `json:"id,omitempty"`
		Watch string `json:"watch"`
	}{TypeSession, s.ID, s.Watch})
}

// Watchers says how many clients watch a lasting terminal, this one
// included; sent when it changes.
type Watchers struct {
	Count int
}

// Marshal is the message's text: {"type":"watchers","count":2}.
func (w Watchers) Marshal() []byte {
	return marshal(struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
	}{TypeWatchers, w.Count})
}

// Replayed follows a lasting terminal's replay: what came before it is
// history, to draw without answering its queries; what follows is live.
var Replayed = marshal(struct {
	Type string `json:"type"`
}{TypeReplayed})

// ServerMessage is a control message from the server, as a client reads it:
// the fields of its type are set.
type ServerMessage struct {
	Type   string    `json:"type"`
	Title  string    `json:"title"`  // title
	Code   CloseCode `json:"code"`   // exit
	Reason string    `json:"reason"` // exit
	ID     string    `json:"id"`     // session
	Watch  string    `json:"watch"`  // session
	Count  int       `json:"count"`  // watchers
}

// ParseServerMessage reads a control message from the server: the first
// JSON value in msg. It is pure, for tests and fuzzing.
func ParseServerMessage(msg []byte) (ServerMessage, error) {
	var m ServerMessage
	err := json.NewDecoder(bytes.NewReader(msg)).Decode(&m)
	return m, err
}

// marshal encodes v as one line without its newline, and without escaping
// HTML: a title's "<" needs no escape outside HTML.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
