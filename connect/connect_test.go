package connect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/wire"
	"go.uber.org/goleak"
)

func TestCloseStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int // -1: nil
		msg  string
	}{
		{&websocket.CloseError{Code: 1000}, -1, ""},
		{&websocket.CloseError{Code: 1005}, -1, ""},
		{&websocket.CloseError{Code: 4001, Text: "exit 1"}, 1, ""},
		{&websocket.CloseError{Code: 4255, Text: "exit 255"}, 255, ""},
		{&websocket.CloseError{Code: 4309, Text: "signal 9 (killed)"}, 137, "killed: signal 9 (killed)"},
		{&websocket.CloseError{Code: 1014, Text: "backend reset the connection"}, ExitBackend, "backend failed: backend reset the connection"},
		{&websocket.CloseError{Code: 1001, Text: "shutting down"}, ExitLost, "closed the session with 1001 (shutting down)"},
		{&websocket.CloseError{Code: 1011}, ExitLost, "with 1011"},
		{&websocket.CloseError{Code: 4256}, ExitLost, "with 4256"},
		{io.ErrUnexpectedEOF, ExitLost, "without a close frame"},
	} {
		err := closeError(tc.err)
		var e *Error
		switch {
		case tc.code == -1 && err != nil:
			t.Errorf("%v: got %v, want nil", tc.err, err)
		case tc.code == -1:
		case !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Msg, tc.msg) || (tc.msg == "") != (e.Msg == ""):
			t.Errorf("%v: got %#v, want code %d and %q", tc.err, err, tc.code, tc.msg)
		}
	}
}

// bridgeTo runs wsbridge's own server with a TCP backend at target.
func bridgeTo(t *testing.T, target string) (*url.URL, func()) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	s := &bridge.Server{
		Listeners:     []bridge.Listener{{Addresses: []string{"127.0.0.1"}}},
		Log:           log,
		ShutdownGrace: 5 * time.Second,
		Routes: []*bridge.Route{{
			Backend:    &bridge.Dial{Target: bridge.Target{Network: "tcp", Address: target}, Timeout: time.Second, Grace: time.Second, Log: log},
			Framing:    bridge.Binary,
			MaxMessage: 1 << 20,
		}},
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	u, err := url.Parse(s.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return u, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// echoServer echoes each connection until its EOF, then closes it.
func echoServer(t *testing.T) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String(), func() { l.Close(); wg.Wait() }
}

// Tunnels ended every way (the client's half-close, the client vanishing,
// the listener shutting down with tunnels open) leave no goroutine behind,
// and every byte of a half-closed exchange comes back.
func TestListenerEndsEveryTunnel(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo, stopEcho := echoServer(t)
	defer stopEcho()
	u, stopBridge := bridgeTo(t, echo)
	defer stopBridge()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Options: &Options{URL: u, DialTimeout: 5 * time.Second, Ping: time.Second}, Max: 10, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- l.Serve(ctx, ln) }()
	addr := ln.Addr().String()

	for i := range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte(fmt.Sprintf("tunnel %d;", i)), 10000*(i+1))
		go func() {
			c.Write(want)
			c.(*net.TCPConn).CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tunnel %d: %d of %d bytes back, %v", i, len(got), len(want), err)
		}
	}
	for range 5 { // the client leaves without a word
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("bye"))
		c.Close()
	}
	var open []net.Conn
	for range 3 { // still open at shutdown
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, c := range open {
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("an open tunnel at shutdown: %v, want EOF", err)
		}
	}
}

// Stdio with pings: the input's end half-closes, the echo of all of it
// arrives, and nothing is left running.
func TestStdioHalfClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo, stopEcho := echoServer(t)
	defer stopEcho()
	u, stopBridge := bridgeTo(t, echo)
	defer stopBridge()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	var out bytes.Buffer
	// Pings every 50 ms throughout; the server may take its time to answer
	// each (a loaded machine): the test is about pings beside the
	// half-close, not about how fast pongs come.
	o := &Options{URL: u, DialTimeout: 5 * time.Second, Ping: 50 * time.Millisecond, PingTimeout: 10 * time.Second}
	if err := o.Stdio(context.Background(), bytes.NewReader(want), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("%d of %d bytes came back", out.Len(), len(want))
	}
}

// wsbridge's server says in its answer that it takes close 4500 as a
// half-close; connect sends 4500 only to such servers.
func TestDialSeesHalfClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo, stopEcho := echoServer(t)
	defer stopEcho()
	u, stopBridge := bridgeTo(t, echo)
	defer stopBridge()
	ws, halfClose, err := (&Options{URL: u, DialTimeout: 5 * time.Second}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	if !halfClose {
		t.Fatal("wsbridge's server did not say it takes the half-close")
	}
}

// A server that says it takes the half-close but answers connect's 4500
// with 4500 (gorilla/websocket's default, websocketd's way) ended normally.
func TestEchoedEndOfInput(t *testing.T) {
	defer goleak.VerifyNone(t)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, http.Header{wire.HalfCloseHeader: {"4500"}})
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			typ, p, err := ws.ReadMessage()
			if err != nil {
				return // gorilla has echoed the close code
			}
			ws.WriteMessage(typ, p)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	var out bytes.Buffer
	if err := (&Options{URL: u, DialTimeout: 5 * time.Second}).Stdio(context.Background(), strings.NewReader("ping"), &out); err != nil {
		t.Fatalf("an echoed 4500: %v, want a normal end", err)
	}
	if out.String() != "ping" {
		t.Fatalf("got %q back, want ping", out.String())
	}
}

// hangUps is a TCP listener that accepts connections and closes them at
// once (a server that is not up yet behind something that accepts), and
// counts them.
func hangUps(t *testing.T) (addr string, count func() int, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }, func() { l.Close(); <-done }
}

// --reconnect-max N: N retries after the first try, no more; without
// --reconnect, one try.
func TestReconnectMax(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		reconnect bool
		max, want int
	}{{false, 0, 1}, {true, 1, 2}, {true, 3, 4}} {
		addr, count, stop := hangUps(t)
		defer stop()
		u, _ := url.Parse("ws://" + addr + "/")
		o := &Options{URL: u, DialTimeout: 5 * time.Second, Reconnect: tc.reconnect, ReconnectMax: tc.max}
		err := o.Stdio(context.Background(), strings.NewReader("x"), io.Discard)
		var e *Error
		if !errors.As(err, &e) || e.Code != ExitProtocol {
			t.Errorf("reconnect %v max %d: %v, want exit %d", tc.reconnect, tc.max, err, ExitProtocol)
		}
		if got := count(); got != tc.want {
			t.Errorf("reconnect %v max %d: %d tries, want %d", tc.reconnect, tc.max, got, tc.want)
		}
	}
}

// The waits between tries grow, within their bounds.
func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{firstRetry, 2 * firstRetry, 4 * firstRetry} {
		if d := backoff(n); d < want/2 || d > want {
			t.Errorf("wait before retry %d: %v, want %v to %v", n+1, d, want/2, want)
		}
	}
	if d := backoff(1000); d < maxRetry/2 || d > maxRetry {
		t.Errorf("wait before retry 1001: %v, want %v to %v", d, maxRetry/2, maxRetry)
	}
}
