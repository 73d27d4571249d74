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

// TestFlowWindowFollowsRate: the window is the client's drain rate times
// flowBacklog plus the round trip, between flowFloor and flowWindow, from
// acks timed by a clock the test moves.
func TestFlowWindowFollowsRate(t *testing.T) {
	f := newFlow()
	f.on = true
	now := time.Unix(0, 0)
	f.now = func() time.Time { return now }
	gone := make(chan struct{})
	close(gone)
	// flood sends output as the window lets it go, in messages of up to
	// 4 KiB, through a link of rate bytes per second and a round trip of
	// rtt, and has the client ack each message as it arrives, until total
	// bytes went.
	flood := func(total int64, rate float64, rtt time.Duration) {
		type msg struct {
			n     int64
			ackAt time.Time
		}
		var inFlight []msg
		linkFree := now
		for sent := int64(0); sent < total || len(inFlight) > 0; {
			for sent < total {
				f.mu.Lock()
				free := f.window - f.unacked
				f.mu.Unlock()
				if free <= 0 {
					f.room(gone) // the window is full: the pump waits here
					break
				}
				n := min(free, 4096, total-sent)
				f.sent(int(n))
				sent += n
				at := now.Add(rtt / 2)
				if linkFree.After(at) {
					at = linkFree
				}
				linkFree = at.Add(time.Duration(float64(n) / rate * float64(time.Second)))
				inFlight = append(inFlight, msg{n, linkFree.Add(rtt / 2)})
			}
			now = inFlight[0].ackAt
			if err := f.ack(inFlight[0].n); err != nil {
				t.Fatal(err)
			}
			inFlight = inFlight[1:]
		}
	}
	if f.window != flowWindow {
		t.Fatalf("a session starts with a window of %d, want %d", f.window, flowWindow)
	}
	// A prompt, acked at once: the first sample, a fast client's
	// round trip, and a window of the floor.
	f.sent(2)
	now = now.Add(200 * time.Microsecond)
	f.ack(2)
	if f.window != flowFloor {
		t.Fatalf("after a prompt: window %d, want %d", f.window, flowFloor)
	}
	// A fast link (100 MB/s): the window opens to its largest.
	flood(4<<20, 100e6, 200*time.Microsecond)
	if f.window != flowWindow {
		t.Fatalf("at 100 MB/s: window %d, want %d", f.window, flowWindow)
	}
	// A slow link (100 KB/s): the floor (a quarter second is 25 KB).
	flood(512<<10, 100e3, 200*time.Microsecond)
	if f.window != flowFloor {
		t.Fatalf("at 100 KB/s: window %d, want %d", f.window, flowFloor)
	}
	// 500 KB/s: a quarter second's worth and a round trip.
	flood(1<<20, 500e3, 20*time.Millisecond)
	if want := int64(500e3 * 0.2502); f.window < want-4096 || f.window > want+4096 {
		t.Fatalf("at 500 KB/s: window %d, want about %d", f.window, want)
	}
	// A few bytes at a time, while nothing fills the window: the program's
	// pace, not the client's, which does not make the window smaller.
	w := f.window
	f.sent(100)
	now = now.Add(10 * time.Millisecond) // 10 KB/s
	f.ack(100)
	if f.window != w {
		t.Fatalf("a slow trickle moved the window from %d to %d", w, f.window)
	}
	// Nor does a burst that went fast open it more than twice its size.
	f = newFlow()
	f.on, f.now = true, func() time.Time { return now }
	f.sent(2)
	now = now.Add(200 * time.Microsecond)
	f.ack(2)
	f.sent(4096)
	f.sent(4096)
	now = now.Add(100 * time.Microsecond)
	f.ack(8192)
	if f.window != flowFloor {
		t.Fatalf("after 8 KiB in 100 µs: window %d, want %d", f.window, flowFloor)
	}
	// A client that acknowledged nothing for seconds and then acks part of
	// a full window was away, not slow: the ack lets as much more go (as
	// e2e's TestTerminalFlowControl has it).
	f = newFlow()
	f.on, f.now = true, func() time.Time { return now }
	for range flowWindow / 4096 {
		f.sent(4096)
	}
	f.room(gone)
	now = now.Add(3 * time.Second)
	f.ack(100000)
	if free := f.window - f.unacked; free != 100000 {
		t.Fatalf("after a silence, an ack of 100000 made room for %d", free)
	}
}
