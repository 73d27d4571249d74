package bridge

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckHandshake(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		want         int // 0: accepted
	}{
		{"good", "GET", nil, 0},
		{"tokens in lists, any case", "GET", map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket", "Sec-WebSocket-Version": "8, 13"}, 0},
		{"POST", "POST", nil, http.StatusMethodNotAllowed},
		{"version 8", "GET", map[string]string{"Sec-WebSocket-Version": "8"}, http.StatusBadRequest},
		{"no version", "GET", map[string]string{"Sec-WebSocket-Version": ""}, http.StatusBadRequest},
		{"version 13 in a longer token", "GET", map[string]string{"Sec-WebSocket-Version": "13 14"}, http.StatusBadRequest},
		{"no key", "GET", map[string]string{"Sec-WebSocket-Key": ""}, http.StatusBadRequest},
		{"key not base64", "GET", map[string]string{"Sec-WebSocket-Key": "not base64!!"}, http.StatusBadRequest},
		{"key of 15 bytes", "GET", map[string]string{"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"}, http.StatusBadRequest},
		{"no Connection: upgrade", "GET", map[string]string{"Connection": "keep-alive"}, http.StatusBadRequest},
		{"no Upgrade: websocket", "GET", map[string]string{"Upgrade": "h2c"}, http.StatusBadRequest},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", key)
		for k, v := range tc.header {
			if v == "" {
				r.Header.Del(k)
			} else {
				r.Header.Set(k, v)
			}
		}
		err := checkHandshake(r)
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != 0 && (err == nil || err.Status != tc.want):
			t.Errorf("%s: got %v, want %d", tc.name, err, tc.want)
		case err != nil && err.Header.Get("Sec-WebSocket-Version") != "13":
			t.Errorf("%s: no Sec-WebSocket-Version: 13 in the answer", tc.name)
		}
	}
}

// badHandshakes are refused before any upgrade; each has Connection: close.
var badHandshakes = map[string]struct {
	req  string
	want int
}{
	"POST":      {"POST / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 405},
	"version 8": {"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 400},
	"no key":    {"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	"short key": {"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	"no tokens": {"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 426},
}

// sendBadHandshakes sends each bad handshake and checks its status.
func sendBadHandshakes(t *testing.T, addr string) {
	t.Helper()
	for name, tc := range badHandshakes {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprint(conn, tc.req)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.want)
		}
	}
}

// TestBadHandshakeStartsNothing: a handshake that cannot succeed starts no
// program and dials no backend.
func TestBadHandshakeStartsNothing(t *testing.T) {
	t.Run("exec", func(t *testing.T) {
		started := filepath.Join(t.TempDir(), "started")
		addr, stop := serve(t, func(s *Server) {
			s.Routes[0].Backend = &Exec{Program: Program{Command: "/bin/sh", Args: []string{"-c", "touch " + started + "; exec cat"}, Log: s.Log}}
		})
		sendBadHandshakes(t, addr)
		stop() // every session (there should be none) has ended
		if _, err := os.Stat(started); err == nil {
			t.Error("a bad handshake started the program")
		}
	})
	t.Run("tcp", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		addr, stop := serve(t, func(s *Server) {
			s.Routes[0].Backend = &Dial{Target: Target{"tcp", l.Addr().String()}, Timeout: time.Second, Log: slog.New(slog.DiscardHandler)}
		})
		sendBadHandshakes(t, addr)
		stop()
		l.Close()
		<-done
		if n := accepted.Load(); n != 0 {
			t.Errorf("bad handshakes dialed the backend %d times", n)
		}
	})
}
