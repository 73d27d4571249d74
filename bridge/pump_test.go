package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
	"github.com/wsbridge/wsbridge/wire"
)

// The pumps (session.go) against an in-memory backend: the test decides what
// the backend outputs and when it ends, and sees what the pumps ask of it.
// The tests beside it run real programs.

// fakeSession is a backend Session in memory. Its output is what the test
// puts in out (closed: EOF); Stop ends it as a program's ladder would.
type fakeSession struct {
	out     chan []byte
	rest    []byte        // of the chunk Read is handing out
	events  chan string   // "closewrite" and the first "stop", in order
	stopped chan struct{} // closed by the first Stop
	once    sync.Once
	ending  Ending
}

func newFake(ending Ending) *fakeSession {
	return &fakeSession{
		out:     make(chan []byte, 100),
		events:  make(chan string, 10),
		stopped: make(chan struct{}),
		ending:  ending,
	}
}

func (f *fakeSession) Open(*http.Request) (Session, error) { return f, nil }

func (f *fakeSession) Read(b []byte) (int, error) {
	for len(f.rest) == 0 {
		select {
		case chunk, ok := <-f.out:
			if !ok {
				return 0, io.EOF
			}
			f.rest = chunk
		case <-f.stopped:
			return 0, io.EOF
		}
	}
	n := copy(b, f.rest)
	f.rest = f.rest[n:]
	return n, nil
}

func (f *fakeSession) Write(b []byte) (int, error) { return len(b), nil }
func (f *fakeSession) CloseWrite() error           { f.events <- "closewrite"; return nil }

func (f *fakeSession) Stop() {
	f.once.Do(func() {
		f.events <- "stop"
		close(f.stopped)
	})
}

// Wait returns once stopped: the pump stops every session before it waits.
func (f *fakeSession) Wait() Ending { <-f.stopped; return f.ending }
func (f *fakeSession) Close() error { return nil }

// fakeTerminal is a fakeSession on a terminal whose program floods output
// from its first size on, and which notes how far each Read could reach.
type fakeTerminal struct {
	*fakeSession
	sized chan struct{} // closed by the first Resize
	first sync.Once
	mu    sync.Mutex
	given int // bytes output so far
	reach int // the most a Read could have output by its end
}

func (f *fakeTerminal) Open(*http.Request) (Session, error) { return f, nil }

func (f *fakeTerminal) Resize(cols, rows int) error {
	f.first.Do(func() { close(f.sized) })
	return nil
}

func (f *fakeTerminal) Read(b []byte) (int, error) {
	select {
	case <-f.sized:
	case <-f.stopped:
		return 0, io.EOF
	}
	select {
	case <-f.stopped:
		return 0, io.EOF
	default:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reach = max(f.reach, f.given+len(b))
	f.given += len(b)
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

func (f *fakeTerminal) reached() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reach
}

// dialFake serves backend on route settings set by configure, and connects.
func dialFake(t *testing.T, backend Backend, configure func(*Route)) *websocket.Conn {
	t.Helper()
	addr, _ := serve(t, func(s *Server) {
		s.Routes[0].Backend = backend
		if configure != nil {
			configure(s.Routes[0])
		}
	})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads messages until the close frame, as "text:..." and
// "binary:..." and last "close:CODE REASON".
func readAll(t *testing.T, c *websocket.Conn) []string {
	t.Helper()
	var got []string
	for {
		mt, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			return append(got, fmt.Sprintf("close:%d %s", ce.Code, ce.Text))
		case err != nil:
			t.Fatalf("after %q: %v", got, err)
		case mt == websocket.TextMessage:
			got = append(got, "text:"+string(msg))
		default:
			got = append(got, "binary:"+string(msg))
		}
	}
}

// TestPumpOutputBeforeClose: all the output, then what the protocol says at
// the end (the terminal's exit message), then the close frame with the
// backend's ending, in that order.
func TestPumpOutputBeforeClose(t *testing.T) {
	const lines = 300
	for _, tc := range []struct {
		name          string
		configure     func(*Route)
		kind, output  string   // how each output message comes, and all of it
		before, after []string // the protocol's messages around it
	}{
		{name: "line", kind: "text:", output: strings.Repeat("line", lines)},
		{
			name: "terminal",
			configure: func(r *Route) {
				r.Framing, r.Terminal = Terminal, &web.Terminal{Title: "t"}
			},
			kind:   "binary:",
			output: strings.Repeat("line\n", lines),
			before: []string{`text:{"title":"t","type":"title"}`},
			after:  []string{`text:{"type":"exit","code":4003,"reason":"exit 3"}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(Ending{Code: wire.ExitCode(3), Reason: "exit 3", Status: "exit 3"})
			c := dialFake(t, f, tc.configure)
			for range lines {
				f.out <- []byte("line\n")
			}
			close(f.out)
			got := readAll(t, c)
			end := append(slices.Clip(tc.after), "close:4003 exit 3")
			if len(got) < len(tc.before)+len(end) || !slices.Equal(got[:len(tc.before)], tc.before) || !slices.Equal(got[len(got)-len(end):], end) {
				t.Fatalf("got %q", got)
			}
			// Output may come in fewer, larger messages: join it.
			var out strings.Builder
			for _, m := range got[len(tc.before) : len(got)-len(end)] {
				data, ok := strings.CutPrefix(m, tc.kind)
				if !ok {
					t.Fatalf("output %q, want %s", m, tc.kind)
				}
				out.WriteString(data)
			}
			if out.String() != tc.output {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}

// TestPumpEndOfInput: a client's close gives the backend EOF (CloseWrite).
// After wire.EndOfInput (4500) the backend runs on and its answer reaches
// the client still connected; after any other close, or 4500 on a terminal,
// the backend is stopped (the signal ladder) at once.
func TestPumpEndOfInput(t *testing.T) {
	terminal := func(r *Route) { r.Framing, r.Terminal = Terminal, &web.Terminal{} }
	for _, tc := range []struct {
		name      string
		code      int
		configure func(*Route)
		halfClose bool
		end       []string // what the client gets last
	}{
		{"4500", int(wire.EndOfInput), nil, true, []string{"close:1000 "}},
		{"1000", websocket.CloseNormalClosure, nil, false, []string{"close:1000 "}},
		{"4001", 4001, nil, false, []string{"close:1000 "}},
		{"terminal 4500", int(wire.EndOfInput), terminal, false, []string{`text:{"type":"exit","code":1000,"reason":""}`, "close:1000 "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(Ending{Code: websocket.CloseNormalClosure, Status: "exit 0"})
			c := dialFake(t, f, tc.configure)
			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(tc.code, ""), time.Now().Add(closeWait)); err != nil {
				t.Fatal(err)
			}
			if e := <-f.events; e != "closewrite" {
				t.Fatalf("first %q, want closewrite", e)
			}
			if !tc.halfClose {
				if e := <-f.events; e != "stop" {
					t.Fatalf("then %q, want stop", e)
				}
				if got := readAll(t, c); !slices.Equal(got, tc.end) {
					t.Fatalf("got %q", got)
				}
				return
			}
			// The answer after EOF, while nothing has stopped the backend:
			// only its end or the client's leaving may.
			f.out <- []byte("answer\n")
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "answer" {
				t.Fatalf("answer %q, %v", msg, err)
			}
			select {
			case e := <-f.events:
				t.Fatalf("%s before the backend ended", e)
			default:
			}
			close(f.out)
			if got := readAll(t, c); !slices.Equal(got, tc.end) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// TestPumpIdleTimeout: a session without data either way is closed with
// 1001, and its backend stopped.
func TestPumpIdleTimeout(t *testing.T) {
	f := newFake(Ending{Code: websocket.CloseNormalClosure})
	c := dialFake(t, f, func(r *Route) { r.IdleTimeout = 50 * time.Millisecond })
	if got := readAll(t, c); !slices.Equal(got, []string{"close:1001 idle timeout"}) {
		t.Fatalf("got %q", got)
	}
	<-f.stopped
}

// TestPumpFlowWindow: with flow control, output stops at flowWindow bytes
// not acknowledged: the pump asks the backend for no more. An ack lets
// that many more go.
func TestPumpFlowWindow(t *testing.T) {
	f := &fakeTerminal{fakeSession: newFake(Ending{Code: websocket.CloseNormalClosure}), sized: make(chan struct{})}
	c := dialFake(t, f, func(r *Route) { r.Framing, r.Terminal = Terminal, &web.Terminal{} })
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24,"flow":true}`)); err != nil {
		t.Fatal(err)
	}
	received := func(n int) {
		t.Helper()
		for got := 0; got < n; {
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got += len(msg)
			if got > n {
				t.Fatalf("%d bytes, want %d", got, n)
			}
		}
	}
	received(flowWindow)
	if r := f.reached(); r != flowWindow {
		t.Fatalf("the backend was asked for up to %d bytes without an ack, want %d", r, flowWindow)
	}
	const ack = 1000
	if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"ack","bytes":%d}`, ack)); err != nil {
		t.Fatal(err)
	}
	received(ack)
	if r := f.reached(); r != flowWindow+ack {
		t.Fatalf("after an ack of %d the backend was asked for up to %d bytes, want %d", ack, r, flowWindow+ack)
	}
	c.Close()
	<-f.stopped
}
