package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
)

func TestFlowWindow(t *testing.T) {
	f := newFlow()
	gone := make(chan struct{})
	f.sent(10 * flowWindow) // counted, but nothing waits while flow is off
	if got := f.room(gone); got != flowWindow {
		t.Fatalf("flow off: room %d", got)
	}
	f = newFlow()
	f.on = true
	f.sent(flowWindow - 100)
	if got := f.room(gone); got != 100 {
		t.Fatalf("room %d, want 100", got)
	}
	f.sent(100)
	roomc := make(chan int)
	go func() { roomc <- f.room(gone) }()
	select {
	case n := <-roomc:
		t.Fatalf("room %d with a full window", n)
	case <-time.After(50 * time.Millisecond):
	}
	if err := f.ack(4096); err != nil {
		t.Fatal(err)
	}
	if got := <-roomc; got != 4096 {
		t.Fatalf("after an ack of 4096: room %d", got)
	}
	if err := f.ack(flowWindow); err == nil {
		t.Fatal("an ack of more than is unacknowledged was taken")
	}
	f.sent(4096) // the window is full again
	go func() { roomc <- f.room(gone) }()
	close(gone) // nobody is left to acknowledge: output is no longer held
	if got := <-roomc; got != flowWindow {
		t.Fatalf("after gone: room %d", got)
	}
}

// TestTerminalWaitsForItsSize: a client that never sends its size is closed
// with a reason, and the program never starts.
func TestTerminalWaitsForItsSize(t *testing.T) {
	defer func(d time.Duration) { sizeWait = d }(sizeWait)
	sizeWait = 200 * time.Millisecond
	started := false
	addr, _ := serve(t, func(s *Server) {
		s.Routes[0].Backend = &Pty{Program: Program{Command: "/bin/cat", Log: slog.New(slog.DiscardHandler)}}
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
	})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var texts []string
	for {
		mt, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.ClosePolicyViolation || ce.Text != "no size message within 200ms" {
				t.Fatalf("closed %d %q", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if mt == websocket.BinaryMessage {
			started = true
		}
		texts = append(texts, string(msg))
	}
	if started || len(texts) != 1 || texts[0] != `{"type":"exit","code":1008,"reason":"no size message within 200ms"}` {
		t.Fatalf("output %v, messages %q", started, texts)
	}
}

// BenchmarkPTYDown streams 16 MiB from a program on a terminal through the
// terminal framing to a client that acknowledges as the page does.
func BenchmarkPTYDown(b *testing.B) {
	const size = 16 << 20
	addr, _ := serve(b, func(s *Server) {
		s.Routes[0].Backend = &Pty{Program: Program{Command: "/bin/sh", Args: []string{"-c", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' a", size)}, Log: s.Log}}
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
	})
	b.SetBytes(size)
	for b.Loop() {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24,"flow":true}`))
		n, pending, msgs := 0, 0, 0
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				break
			}
			if mt == websocket.BinaryMessage {
				msgs++
				n += len(msg)
				if pending += len(msg); pending >= 32<<10 {
					c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"ack","bytes":%d}`, pending))
					pending = 0
				}
			}
		}
		c.Close()
		if n != size {
			b.Fatalf("got %d bytes, want %d", n, size)
		}
		b.ReportMetric(float64(n)/float64(msgs), "B/msg")
	}
}
