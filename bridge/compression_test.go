//go:build unix

package bridge

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// countingConn counts the bytes read from the server: what crossed the wire.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// compressingDial dials addr offering permessage-deflate, counting the
// bytes that come from the server into read.
func compressingDial(t *testing.T, addr string, read *atomic.Int64) (*websocket.Conn, string) {
	t.Helper()
	d := websocket.Dialer{
		EnableCompression: true,
		NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			return countingConn{c, read}, nil
		},
	}
	c, resp, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, resp.Header.Get("Sec-Websocket-Extensions")
}

// TestCompression: a route with Compression negotiates permessage-deflate
// with a client that offers it, without context takeover (each message
// deflated alone, so a session keeps no compressor between messages), and
// what it echoes arrives whole in fewer bytes than it holds; a route without
// it never negotiates it.
func TestCompression(t *testing.T) {
	payload := []byte(strings.Repeat("drwxr-xr-x 2 root root 4096 Jan  1 00:00 share\n", 10000)) // 470 KB
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("compression=", on), func(t *testing.T) {
			addr, stop := serve(t, func(s *Server) {
				s.Routes[0].Framing = Binary
				s.Routes[0].Compression = on
			})
			var wire atomic.Int64
			c, ext := compressingDial(t, addr, &wire)
			defer c.Close()
			want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
			if on && ext != want || !on && ext != "" {
				t.Fatalf("Sec-WebSocket-Extensions: %q (compression %v)", ext, on)
			}
			if err := c.WriteMessage(websocket.BinaryMessage, payload); err != nil {
				t.Fatal(err)
			}
			var got []byte
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for len(got) < len(payload) {
				_, msg, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				got = append(got, msg...)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("the echo differs: %d bytes, want %d", len(got), len(payload))
			}
			n := wire.Load()
			if on && n > int64(len(payload))/10 || !on && n < int64(len(payload)) {
				t.Fatalf("%d bytes on the wire for %d bytes of messages (compression %v)", n, len(payload), on)
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			readUntilClose(c)
			stop()
		})
	}
}

// TestCompressedMessageOverLimit: a compressed message that inflates past
// MaxMessage closes with 1009 like any message that is too big, though its
// bytes on the wire are within the read limit.
func TestCompressedMessageOverLimit(t *testing.T) {
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Framing = Binary
		s.Routes[0].Compression = true
		s.Routes[0].MaxMessage = 64 << 10
	})
	var wire atomic.Int64
	c, _ := compressingDial(t, addr, &wire)
	defer c.Close()
	// 4 MiB of zeros deflate to about 4 KiB: within the read limit.
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, code, reason := readUntilClose(c); code != websocket.CloseMessageTooBig {
		t.Fatalf("got %d messages and close %d %q, want close 1009", len(got), code, reason)
	}
	stop()
}
