package bridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// net/http lingers 500ms after refusing oversized headers, by design.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// serve runs a Server for cat on a free loopback port until the test ends.
func serve(t testing.TB, configure func(*Server)) (addr string, stop func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Server{
		Listeners:     []Listener{{Addresses: []string{"127.0.0.1"}}},
		Log:           log,
		ShutdownGrace: 5 * time.Second,
		Routes: []*Route{{
			Backend:    &Exec{Program: Program{Command: "/bin/cat", Log: log}},
			MaxMessage: 1 << 20,
		}},
	}
	if configure != nil {
		configure(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return s.bound[0].listeners[0].Addr().String(), stop
}

// TestNoGoroutineLeaks runs many sessions of a program and of a TCP
// backend, ended every way a session can end, then shuts down; goleak (in
// TestMain) fails on any goroutine left.
func TestNoGoroutineLeaks(t *testing.T) {
	echo := echoBackend(t)
	for name, backend := range map[string]Backend{
		"exec": &Exec{Program: Program{Command: "/bin/cat", Log: slog.New(slog.DiscardHandler)}},
		"pty":  &Pty{Program: Program{Command: "/bin/cat", Log: slog.New(slog.DiscardHandler)}},
		"tcp":  &Dial{Target: Target{"tcp", echo}, Timeout: time.Second, Grace: time.Second, Log: slog.New(slog.DiscardHandler)},
	} {
		t.Run(name, func(t *testing.T) {
			terminal := name == "pty"
			addr, stop := serve(t, func(s *Server) {
				s.Routes[0].Backend = backend
				s.Routes[0].PingInterval = time.Second
				s.Routes[0].IdleTimeout = time.Minute
				if terminal {
					s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
				}
			})
			manySessions(t, "ws://"+addr+"/", terminal)
			stop()
		})
	}
}

// manySessions opens sessions that echo, and ends a third by a clean close,
// a third by vanishing, and leaves a third open for shutdown to end. A
// terminal session sends its size first; its terminal echoes what is typed.
func manySessions(t *testing.T, url string, terminal bool) {
	for i := range 60 {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if terminal {
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24,"flow":true}`))
		}
		c.WriteMessage(websocket.BinaryMessage, []byte("hi"))
		var echoed []byte
		for string(echoed) != "hi" {
			_, msg, err := c.ReadMessage()
			if err != nil || !bytes.HasPrefix([]byte("hi"), append(echoed, msg...)) {
				t.Fatalf("echo: %q %v", append(echoed, msg...), err)
			}
			echoed = append(echoed, msg...)
		}
		switch i % 3 {
		case 0: // clean close by the client
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
			}
			c.Close()
		case 1: // the client just goes away
			c.Close()
		case 2: // left open for shutdown to end
			defer c.Close()
		}
	}
}

func TestSlowHeadersTimeOut(t *testing.T) {
	addr, _ := serve(t, func(s *Server) { s.HeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // and never the end
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the server kept a connection with unfinished headers: %v", err)
	}
}

func TestEndlessHeadersRefused(t *testing.T) {
	addr, _ := serve(t, nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
		for range 2000 {
			if _, err := fmt.Fprintf(conn, "X-Filler: %s\r\n", strings.Repeat("a", 100)); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}

}

func TestPortInUseIsAnError(t *testing.T) {
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	s := &Server{Listeners: []Listener{{Addresses: []string{"127.0.0.1"}, Port: busy.Addr().(*net.TCPAddr).Port}}, Log: slog.Default()}
	err := s.Listen()
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Listen: %v", err)
	}
}

// TestListenSecondBusy: a port in use on the second listener is an error
// that says which listener, and the first one is closed again.
func TestListenSecondBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sock := filepath.Join(t.TempDir(), "ws.sock")
	s := &Server{Listeners: []Listener{{Unix: sock}, {Addresses: []string{"127.0.0.1"}, Port: busy.Addr().(*net.TCPAddr).Port}}, Log: slog.Default()}
	err = s.Listen()
	var le *ListenError
	if !errors.As(err, &le) || le.Listener != 1 || le.Redirect || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen: %#v", err)
	}
	if want := fmt.Sprintf("listen on 127.0.0.1 port %d: address already in use", busy.Addr().(*net.TCPAddr).Port); err.Error() != want {
		t.Errorf("Listen: %q, want %q", err, want)
	}
	if _, err := os.Lstat(sock); len(s.bound) != 0 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%d listeners bound, the first one's socket: %v", len(s.bound), err)
	}
}

// A port taken on IPv6 loopback is an error too: a client of localhost could
// otherwise reach the other program.
func TestDefaultLoopbackPortTakenOnIPv6(t *testing.T) {
	busy, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer busy.Close()
	s := &Server{Listeners: []Listener{{Port: busy.Addr().(*net.TCPAddr).Port}}, Log: slog.Default()}
	err = s.Listen()
	if err == nil || !strings.Contains(err.Error(), "listen on ::1") {
		t.Fatalf("Listen: %v", err)
	}
	if len(s.bound) != 0 {
		t.Fatalf("%d listeners left open", len(s.bound))
	}
}

// BenchmarkExecDown streams 64 MiB from a real process (head -c) through the
// binary framing to a WebSocket client: the output pump's path end to end.
func BenchmarkExecDown(b *testing.B) {
	const size = 64 << 20
	addr, _ := serve(b, func(s *Server) {
		s.Routes[0].Backend = &Exec{Program: Program{Command: "/usr/bin/head", Args: []string{"-c", fmt.Sprint(size), "/dev/zero"}, Log: s.Log}}
		s.Routes[0].Framing = Binary
	})
	buf := make([]byte, 64<<10)
	b.SetBytes(size)
	for b.Loop() {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, r, err := c.NextReader()
			if err != nil {
				break
			}
			for {
				k, err := r.Read(buf)
				n += k
				if err != nil {
					break
				}
			}
		}
		c.Close()
		if n != size {
			b.Fatalf("got %d bytes, want %d", n, size)
		}
	}
}

// TestGarbageFramesNeverHang sends random bytes after a good handshake: every
// connection must end (a close code or a drop) without hanging the session,
// and the server keeps serving. goleak then checks nothing was left behind.
func TestGarbageFramesNeverHang(t *testing.T) {
	addr, stop := serve(t, func(s *Server) { s.Routes[0].MaxMessage = 4096 })
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		garbage := make([]byte, 1+rng.IntN(300))
		for j := range garbage {
			garbage[j] = byte(rng.Uint32())
		}
		if i%2 == 0 {
			garbage[0] |= 0x80 // a FIN bit, so the header at least starts like a frame
		}
		c.UnderlyingConn().Write(garbage)
		c.UnderlyingConn().SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.Copy(io.Discard, c.UnderlyingConn()); err != nil {
			// Garbage that happens to be a valid frame sequence may leave
			// the session open; ending it must then still work.
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("input %d: %v", i, err)
			}
		}
		c.Close()
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte("still serving"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "still serving" {
		t.Fatalf("after garbage: %q %v", msg, err)
	}
	c.Close()
	stop()
}

// BenchmarkSessionRate: one session each (connect, one round trip through a
// new cat, a clean close), from 4 clients at once.
func BenchmarkSessionRate(b *testing.B) {
	addr, _ := serve(b, nil)
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 clients
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			c.WriteMessage(websocket.TextMessage, []byte("hello"))
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hello" {
				b.Fatalf("echo %q %v", msg, err)
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
			}
			c.Close()
		}
	})
}

// TestDrainWithoutTimeout: without a DrainTimeout, Drain is the shutdown
// at once: Serve returns, and a live session got 1001.
func TestDrainWithoutTimeout(t *testing.T) {
	s := catServer()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve(context.Background()) }()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.bound[0].listeners[0].Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Drain()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve still runs 20s after Drain without a DrainTimeout")
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("the session ended with %v, want 1001", err)
	}
}

// TestShutdownWaitsForAnUpgrade: a session whose client has its 101 but
// which the server has not tracked yet when shutdown begins is waited for
// all the same, and gets its 1001.
func TestShutdownWaitsForAnUpgrade(t *testing.T) {
	upgraded, proceed := make(chan struct{}), make(chan struct{})
	testHookUpgraded = func() { close(upgraded); <-proceed }
	defer func() { testHookUpgraded = nil }()
	var srv *Server
	addr, stop := serve(t, func(s *Server) { srv = s })
	dialed := make(chan *websocket.Conn, 1)
	go func() {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	<-upgraded
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	for srv.Ready() { // shutdown has begun once the server is not ready
		time.Sleep(time.Millisecond)
	}
	select {
	case <-stopped:
		t.Error("Serve returned while a session it had upgraded was not tracked yet")
	case <-time.After(time.Second):
	}
	close(proceed)
	c := <-dialed
	if c == nil {
		return
	}
	defer c.Close()
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("the session's end: %v, want 1001", err)
	}
	<-stopped
}

// TestExitNoConnWaitsForAnUpgrade: with ExitNoConn, the end of the only
// tracked session while another is being upgraded is not the last one's:
// the server serves that one and stops after it.
func TestExitNoConnWaitsForAnUpgrade(t *testing.T) {
	var srv *Server
	addr, stop := serve(t, func(s *Server) { s.ExitNoConn = true; srv = s })
	a, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.WriteMessage(websocket.TextMessage, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := a.ReadMessage(); err != nil || string(msg) != "a" {
		t.Fatalf("a: %q, %v", msg, err) // a is tracked by now
	}
	upgraded, proceed := make(chan struct{}), make(chan struct{})
	testHookUpgraded = func() { close(upgraded); <-proceed }
	defer func() { testHookUpgraded = nil }()
	dialed := make(chan *websocket.Conn, 1)
	go func() {
		b, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Error(err)
		}
		dialed <- b
	}()
	<-upgraded
	a.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	for {
		if _, _, err := a.ReadMessage(); err != nil {
			break
		}
	}
	select {
	case <-srv.lastEnded:
		t.Error("the server stopped at a's end while b was being upgraded")
	case <-time.After(time.Second):
	}
	close(proceed)
	b := <-dialed
	if b == nil {
		return
	}
	defer b.Close()
	if err := b.WriteMessage(websocket.TextMessage, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := b.ReadMessage(); err != nil || string(msg) != "b" {
		t.Errorf("b after a's end: %q, %v; want its echo", msg, err)
	}
	b.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	<-srv.lastEnded // b was the last
	stop()
}

// catServer is a Server of cat on a free loopback port, not listening yet.
func catServer() *Server {
	log := slog.New(slog.DiscardHandler)
	return &Server{
		Listeners:     []Listener{{Addresses: []string{"127.0.0.1"}}},
		Log:           log,
		ShutdownGrace: 5 * time.Second,
		Routes:        []*Route{{Backend: &Exec{Program: Program{Command: "/bin/cat", Log: log}}, MaxMessage: 1 << 10}},
	}
}
