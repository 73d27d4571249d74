package connect

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/pollwait"
	"github.com/wsbridge/wsbridge/wire"
)

// stream joins one WebSocket to one byte stream.
type stream struct {
	o         *Options
	ws        *websocket.Conn
	halfClose bool          // the server takes wire.EndOfInput as a half-close
	writeMu   sync.Mutex    // one writer of data messages at a time (gorilla's rule)
	up, down  atomic.Int64  // bytes sent to and received from the server
	sentClose atomic.Int32  // the close code sent at the input's end, if any
	eof       atomic.Bool   // the input has ended (not failed)
	lost      bool          // the connection was lost (lostConnection), set by ended
	sessionID string        // --tty: a lasting terminal's id, from its session message
	inDone    chan struct{} // closed when the input has ended
	readDone  chan struct{} // closed when the server's side has ended
}

// bufSize is each direction's copy buffer: large, so that a bulk transfer
// takes few system calls and goes out in few frames. They are borrowed from
// a pool only while data moves, so an idle tunnel holds none (with --listen,
// a database pool's idle connections would otherwise hold 512 KiB each once
// used).
const bufSize = 256 << 10

var buffers = sync.Pool{New: func() any { return new([bufSize]byte) }}

// run copies in to the server and the server's messages to out until the
// server's side ends: its close frame (nil for a normal close, else an *Error
// with the exit status it means) or a failure. When in ends first, the
// server's reply still arrives (see send). The input side may still be
// running when run returns; s.inDone tells when it ends. When ctx ends, the
// server gets 1001 and run returns ctx's error.
//
// With TTY, term is the local terminal (stdin), which in may read through
// a handoff.
func (o *Options) run(ctx context.Context, ws *websocket.Conn, halfClose bool, in, term io.Reader, out io.Writer) (*stream, error) {
	s := &stream{o: o, ws: ws, halfClose: halfClose, inDone: make(chan struct{}), readDone: make(chan struct{})}
	readDone := s.readDone
	defer close(readDone)
	if o.Ping > 0 {
		ws.SetPongHandler(func(string) error { return s.extendDeadline() })
		s.extendDeadline()
		go s.ping(readDone)
	}
	stop := context.AfterFunc(ctx, func() {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "client going away"), time.Now().Add(time.Second))
		ws.Close()
	})
	defer stop()
	if o.TTY {
		restore, err := s.startTerminal(term, readDone)
		defer restore()
		if err != nil {
			close(s.inDone)
			return s, err
		}
	}
	go s.send(in)
	err := s.receive(out)
	if ctx.Err() != nil {
		return s, context.Cause(ctx)
	}
	return s, err
}

// extendDeadline gives the server Ping+PingTimeout to answer the next ping.
func (s *stream) extendDeadline() error {
	return s.ws.SetReadDeadline(time.Now().Add(s.o.Ping + s.o.PingTimeout))
}

func (s *stream) ping(done <-chan struct{}) {
	t := time.NewTicker(s.o.Ping)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.o.PingTimeout)) != nil {
				return
			}
		}
	}
}

// receive writes each message to out until the server closes.
func (s *stream) receive(out io.Writer) error {
	for {
		typ, r, err := s.ws.NextReader()
		if err != nil {
			return s.ended(err)
		}
		buf := buffers.Get().(*[bufSize]byte)
		if s.o.Ping > 0 {
			s.extendDeadline()
		}
		switch {
		case s.o.TTY && typ == websocket.TextMessage:
			err = s.control(r, out)
		case s.o.Text:
			err = s.receiveLine(r, out, buf[:])
		default:
			err = s.copyOut(r, out, buf[:])
		}
		buffers.Put(buf)
		if err != nil {
			return err
		}
	}
}

// ended is how the session ended, from the error that ended it
// (closeError), with the close frame gorilla/websocket may have refused. A
// server that answers our end-of-input close with the same code (gorilla's
// default, websocketd's) ended normally.
func (s *stream) ended(err error) error {
	err = refusedClose(s.ws, err)
	s.lost = lostConnection(err)
	if e, ok := closeEnding(err); ok && e.Code == wire.EndOfInput && wire.CloseCode(s.sentClose.Load()) == wire.EndOfInput {
		return nil
	}
	return closeError(err)
}

// copyOut copies one message as it arrives (a message may be larger than
// the buffer).
func (s *stream) copyOut(r io.Reader, out io.Writer, buf []byte) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return &Error{ExitLost, "writing output: " + werr.Error()}
			}
			s.down.Add(int64(n))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.ended(err)
		}
	}
}

// receiveLine writes one message and a newline (--text).
func (s *stream) receiveLine(r io.Reader, out io.Writer, buf []byte) error {
	if err := s.copyOut(r, out, buf); err != nil {
		return err
	}
	if _, err := out.Write([]byte{'\n'}); err != nil {
		return &Error{ExitLost, "writing output: " + err.Error()}
	}
	return nil
}

// send copies the input to the server, then says that it ended (endInput),
// or closes with 1001 when reading failed. Once the server is gone, the rest
// of the input is read and dropped, so a local client is not left blocked.
func (s *stream) send(in io.Reader) {
	defer close(s.inDone)
	var err error
	if s.o.Text {
		err = s.sendLines(in)
	} else {
		err = s.sendBytes(in)
	}
	var gone serverGone
	_, handedOff := in.(*handoffReader)
	switch {
	case errors.Is(err, errConnEnded):
		return
	case errors.As(err, &gone) && handedOff:
		return // the next connection reads on
	case errors.As(err, &gone):
		io.Copy(io.Discard, in)
		return
	}
	if err != io.EOF {
		s.close(websocket.CloseGoingAway, "client input failed")
		return
	}
	s.eof.Store(true)
	s.endInput()
}

// endInput tells the server that the input has ended, in a way that lets
// its answer arrive whole: a server that said it takes wire.EndOfInput as a
// half-close gets it at once. Any other server may end its program at our
// close frame (websocketd kills it, websockify drops the session), so it
// gets EOFWait to answer and close first, then a normal close; with NoClose
// it gets all the time it takes.
func (s *stream) endInput() {
	switch {
	case s.o.NoClose:
	case s.halfClose:
		s.close(wire.EndOfInput, "end of input")
	default:
		t := time.NewTimer(s.o.EOFWait)
		defer t.Stop()
		select {
		case <-t.C:
			s.close(websocket.CloseNormalClosure, "end of input")
		case <-s.readDone:
		}
	}
}

func (s *stream) close(code wire.CloseCode, reason string) {
	s.sentClose.Store(int32(code))
	s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(int(code), reason), time.Now().Add(5*time.Second))
}

// write sends one data message.
func (s *stream) write(typ int, p []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.ws.WriteMessage(typ, p)
}

// serverGone is a failed write to the server.
type serverGone struct{ error }

// sendBytes copies the input in binary messages. A connection's buffer is
// taken once it has something to read.
func (s *stream) sendBytes(in io.Reader) error {
	// A socket is in Go's poller and can be waited on; stdin may not be.
	conn, pollable := in.(interface {
		net.Conn
		syscall.Conn
	})
	for {
		if pollable {
			if err := pollwait.Readable(conn); err != nil {
				return err
			}
		}
		buf := buffers.Get().(*[bufSize]byte)
		n, err := in.Read(buf[:])
		if n > 0 {
			if werr := s.write(websocket.BinaryMessage, buf[:n]); werr != nil {
				buffers.Put(buf)
				return serverGone{werr}
			}
			s.up.Add(int64(n))
		}
		buffers.Put(buf)
		if err != nil {
			return err
		}
	}
}

// sendLines sends each line without its line ending as a text message (a
// binary one if it is not UTF-8, which a text message must be). A last line
// without a newline is sent too.
func (s *stream) sendLines(in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			typ := websocket.TextMessage
			if !utf8.Valid(line) {
				typ = websocket.BinaryMessage
			}
			if werr := s.write(typ, line); werr != nil {
				return serverGone{werr}
			}
			s.up.Add(int64(len(line)))
		}
		if err != nil {
			return err
		}
	}
}
