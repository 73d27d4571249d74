//go:build unix

package bridge

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// What the pumps do for every message allocates nothing of wsbridge's own
// (gorilla/websocket's reader and writer of a message remain): reading a
// client's message into a pooled buffer and giving it back, and waiting for
// a backend's output before taking a buffer. BenchmarkEcho shows the sum.
func TestReadMessageAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	msg := []byte("0123456789abcdef0123456789abcdef")
	r := bytes.NewReader(nil)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(msg)
		buf, err := readMessage(take(idleBuffer)[:0], r, 1<<20)
		if err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("read %q, %v", buf, err)
		}
		giveBack(buf)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}

func TestTCPWaitReadAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	s := openTCP(t, echoBackend(t))
	w := s.(readWaiter)
	msg, buf := []byte("0123456789abcdef"), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			if err := w.WaitRead(); err != nil {
				t.Fatal(err)
			}
			n, err := s.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

// BenchmarkEcho: round trips of a 32-byte message on one connection, through
// cat (line mode) and through the TCP bridge to an echo server. allocs/op
// counts the client's and the echo server's too (the same in every build):
// compare builds, not the figure alone.
func BenchmarkEcho(b *testing.B) {
	msg := []byte("0123456789abcdef0123456789abcdef")
	b.Run("cat", func(b *testing.B) {
		addr, _ := serve(b, nil)
		benchEcho(b, addr, websocket.TextMessage, msg)
	})
	b.Run("tcp", func(b *testing.B) {
		echo := echoListener(b)
		addr, _ := serve(b, func(s *Server) {
			s.Routes[0].Backend = &Dial{Target: Target{"tcp", echo}, Timeout: 10 * time.Second, Log: slog.New(slog.DiscardHandler)}
			s.Routes[0].Framing = Binary
		})
		benchEcho(b, addr, websocket.BinaryMessage, msg)
	})
}

func benchEcho(b *testing.B, addr string, mt int, msg []byte) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	roundTrip := func() {
		if err := c.WriteMessage(mt, msg); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(msg); { // a TCP echo may come back in pieces
			_, r, err := c.NextReader()
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.ReadFull(r, buf[:len(msg)-got])
			got += n
		}
	}
	for range 100 {
		roundTrip()
	}
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}

// echoListener echoes every connection on a loopback port until the
// benchmark ends, and waits for its goroutines then.
func echoListener(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}) })
		}
	})
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// handshakeRequest is a WebSocket handshake to /chat?x=1 whose headers
// each have value.
func handshakeRequest(value string) *http.Request {
	r := httptest.NewRequest("GET", "/chat?x=1", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	setHandshakeHeaders(r, value)
	return r
}

// setHandshakeHeaders sets the handshake's headers, and two more, to value.
func setHandshakeHeaders(r *http.Request, value string) {
	for _, h := range []string{"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "User-Agent", "X-Request-Id"} {
		r.Header.Set(h, value)
	}
}

// A session's environment costs one string per variable and a few more
// (the slice, made with room for all; the identity's; the request URI):
// a header's variable is built at once, not in four steps.
func TestEnvironmentAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	r := handshakeRequest("v")
	g := gateway{baseEnv: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, serverSoftware: "wsbridge"}
	env := g.environment(r, scriptPaths{}, "id")
	for _, want := range []string{"HTTP_SEC_WEBSOCKET_KEY=v", "HTTP_X_REQUEST_ID=v", "HTTP_USER_AGENT=v", "PATH=/usr/bin:/bin", "QUERY_STRING=x=1"} {
		if !slices.Contains(env, want) {
			t.Errorf("no %s in %q", want, env)
		}
	}
	allocs := testing.AllocsPerRun(100, func() { g.environment(r, scriptPaths{}, "id") })
	if max := float64(len(env) - len(g.baseEnv) + 7); allocs > max {
		t.Errorf("%v allocations for %d variables, want at most %v", allocs, len(env)-len(g.baseEnv), max)
	}
}

func TestTCPReadIdleAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	s := openTCP(t, echoBackend(t))
	r := s.(idleReader)
	msg, buf := []byte("0123456789abcdef"), newReadBuffer(idleBuffer)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := r.readIdle(buf, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	buf.release()
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}
