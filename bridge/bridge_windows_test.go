package bridge

import (
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The bridge on Windows: a program through cmd.exe and a TCP service, each
// to a real WebSocket client.

func TestWindowsExecThroughCmd(t *testing.T) {
	cmd, err := exec.LookPath("cmd")
	if err != nil {
		t.Skip("no cmd.exe:", err)
	}
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Backend = &Exec{Program: Program{Command: cmd, Args: []string{"/c", "echo hello& exit 3"}, Log: s.Log}}
	})
	defer stop()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil || strings.TrimSpace(string(msg)) != "hello" {
		t.Fatalf("read %q, %v; want hello", msg, err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4003 {
		t.Fatalf("end %v, want close 4003 (exit 3)", err)
	}
}

func TestWindowsTCP(t *testing.T) {
	echo := echoBackend(t)
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Backend = &Dial{Target: Target{"tcp", echo}, Timeout: 5 * time.Second, Grace: time.Second, Log: s.Log}
		s.Routes[0].Framing = Binary
	})
	defer stop()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < 5 {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read %q, %v", got, err)
		}
		got = append(got, msg...)
	}
	if string(got) != "ping\n" {
		t.Fatalf("echo %q, want ping", got)
	}
}

// TestWindowsTCPRefused: a refused connection reads as the backend's
// refusal, which needs Winsock's error number, not syscall's made-up one.
func TestWindowsTCPRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = net.Dial("tcp", addr)
	if err == nil {
		t.Skip("something listens on the closed port again")
	}
	d := &Dial{Log: slog.New(slog.DiscardHandler)}
	var he *HTTPError
	if !errors.As(d.openError(httptest.NewRequest("GET", "/", nil), Target{"tcp", addr}, "dial", err), &he) || he.Message != "backend refused the connection" {
		t.Fatalf("refused dial %v reads as %v", err, he)
	}
}
