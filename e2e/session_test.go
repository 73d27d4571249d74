//go:build unix

package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestClientGoneWhileBackendDoesNotRead: a client sends more than a backend
// that never reads its input can take, then leaves without a word. The
// session still ends (the program is reaped, the connection closed) and
// gives its --maxforks slot to the next client; --pingms alone did not help.
func TestClientGoneWhileBackendDoesNotRead(t *testing.T) {
	t.Run("exec", func(t *testing.T) {
		mark := newMarker()
		inst := start(t, "--maxforks", "1", "--pingms", "1000", "/bin/sleep", mark)
		c := inst.dial("/", nil)
		waitProcesses(t, mark, 1)
		c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 512<<10)) // beyond a pipe's 64 KiB
		c.Close()
		waitNoProcesses(t, mark)
		dialFreed(t, inst)
	})
	t.Run("tcp", func(t *testing.T) {
		held := make(chan net.Conn, 2)
		stopped := make(chan struct{})
		l := backend(t, "tcp", "127.0.0.1:0", func(c net.Conn) { held <- c; <-stopped })
		t.Cleanup(func() { close(stopped) })
		inst := start(t, "--maxforks", "1", "--pingms", "1000", "--maxframesize", "16777216", "--tcp", l.Addr().String())
		c := inst.dial("/", nil)
		first := <-held
		// Beyond what the socket buffers between wsbridge and the backend hold.
		c.WriteMessage(websocket.BinaryMessage, make([]byte, 12<<20))
		c.Close()
		dialFreed(t, inst)
		first.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, first); err != nil {
			t.Fatalf("the backend connection stayed open: %v", err)
		}
	})
}

// dialFreed connects once the session before has given back its slot: the
// program is reaped just before that.
func dialFreed(t *testing.T, inst *instance) {
	t.Helper()
	for i := 0; ; i++ {
		c, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
		if err == nil {
			c.Close()
			return
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || i == 200 {
			t.Fatalf("the next client: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseWithOneBytePayloadIs1002: a close frame's payload is empty or
// holds a 2-byte code; one byte is a protocol error (RFC 6455 5.5.1) and is
// answered with 1002, while an empty one is a clean close.
func TestCloseWithOneBytePayloadIs1002(t *testing.T) {
	inst := start(t, "/bin/cat")
	for _, tc := range []struct {
		payload []byte
		want    int
	}{
		{[]byte{0x03}, websocket.CloseProtocolError},
		{nil, websocket.CloseNormalClosure}, // cat's exit 0 after EOF
	} {
		c := rawDial(t, inst.Host, "/")
		c.send(websocket.TextMessage, []byte("before"))
		c.send(websocket.CloseMessage, tc.payload)
		var got []string
		for {
			op, payload, err := c.next()
			if err != nil {
				t.Fatalf("payload %x: no close frame after %q: %v", tc.payload, got, err)
			}
			if op != websocket.CloseMessage {
				got = append(got, string(payload))
				continue
			}
			if len(payload) < 2 || int(payload[0])<<8|int(payload[1]) != tc.want {
				t.Fatalf("payload %x: close %x, want code %d", tc.payload, payload, tc.want)
			}
			break
		}
		// A clean close comes after the rest of the output; a failed
		// connection ends at once.
		if tc.want == websocket.CloseNormalClosure && (len(got) != 1 || got[0] != "before") {
			t.Errorf("payload %x: messages %q before the close, want the echo of the one before it", tc.payload, got)
		}
	}
}
