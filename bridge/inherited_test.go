package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestInheritedListeners serves sockets opened elsewhere (as systemd
// passes them): both are served, named in URLs, and closed at shutdown;
// OnReady comes once they serve and OnStopping when shutdown begins.
func TestInheritedListeners(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ws.sock")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ready, stopping := make(chan struct{}), make(chan struct{})
	s := &Server{
		Listeners:     []Listener{{Inherited: []net.Listener{tcp, ux}}},
		Log:           log,
		ShutdownGrace: 5 * time.Second,
		Routes:        []*Route{{Backend: &Exec{Program: Program{Command: "/bin/cat", Log: log}}, MaxMessage: 1 << 20}},
		OnReady:       func() { close(ready) },
		OnStopping:    func() { close(stopping) },
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if got, want := s.URLs(), []string{"ws://" + tcp.Addr().String() + "/", "unix:" + sock}; !slices.Equal(got, want) {
		t.Errorf("URLs %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnReady")
	}

	unixDialer := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial("unix", sock) }}
	for _, d := range []struct {
		dialer *websocket.Dialer
		url    string
	}{{websocket.DefaultDialer, "ws://" + tcp.Addr().String() + "/"}, {&unixDialer, "ws://localhost/"}} {
		c, _, err := d.dialer.Dial(d.url, nil)
		if err != nil {
			t.Fatalf("%s: %v", d.url, err)
		}
		c.WriteMessage(websocket.TextMessage, []byte("hi"))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
			t.Fatalf("%s: echo %q %v", d.url, msg, err)
		}
		c.Close()
	}
	select {
	case <-stopping:
		t.Fatal("OnStopping before shutdown")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopping:
	default:
		t.Fatal("no OnStopping")
	}
	for _, l := range []net.Listener{tcp, ux} {
		if c, err := net.Dial(l.Addr().Network(), l.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s still accepts after shutdown", l.Addr())
		}
	}
}

// An inherited socket has no redirect port; a Listen error closes every
// inherited socket, since the server was to close them.
func TestInheritedListenErrors(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Listeners: []Listener{{Inherited: []net.Listener{tcp}, RedirPort: 80}}, Log: slog.New(slog.DiscardHandler)}
	err = s.Listen()
	var le *ListenError
	if !errors.As(err, &le) || !le.Redirect || err.Error() != "redirect port 80: inherited sockets have no redirect port" {
		t.Fatalf("Listen: %v", err)
	}
	if c, err := net.Dial("tcp", tcp.Addr().String()); err == nil {
		c.Close()
		t.Errorf("%s still accepts after the error", tcp.Addr())
	}
}
