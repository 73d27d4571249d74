package bridge

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/pollwait"
)

// logBuffer collects a server's log while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// unread is how many bytes wait in a client's receive queue.
func unread(t *testing.T, c *websocket.Conn) int {
	raw, err := c.NetConn().(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = raw.Control(func(fd uintptr) { n = pollwait.Buffered(fd) })
	return n
}

// awaitFull returns once data has stopped coming to a client that does not
// read: its receive queue holds some and grows no more.
func awaitFull(t *testing.T, c *websocket.Conn) {
	t.Helper()
	for last, i := -1, 0; ; i++ {
		n := unread(t, c)
		if n > 0 && n == last {
			return
		}
		if i == 1000 {
			t.Fatalf("data still comes after %d checks: %d bytes unread", i, n)
		}
		last = n
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownWithClientsThatDoNotRead: clients whose output is stuck (they
// never read) do not hold up the 1001 of the others, nor each other: every
// reader gets 1001 and shutdown ends well within the grace. Serially, each
// stuck client cost closeWait, 10 of them twice the grace.
func TestShutdownWithClientsThatDoNotRead(t *testing.T) {
	const stuck, readers = 10, 3
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewTextHandler(&logs, nil))
		s.ShutdownGrace = stuck * closeWait * 3 / 4 // well below stuck × closeWait
		s.Routes[0].Framing = Binary
		s.Routes[0].Backend = &Exec{Program: Program{
			Command: "/bin/sh",
			Args:    []string{"-c", `if [ "$1" = flood ]; then exec cat /dev/zero; fi; exec sleep 1000`, "sh"},
			URLArgs: true,
			Log:     s.Log,
		}}
	})
	for range stuck {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?arg=flood", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Never read: once the socket buffers are full, output blocks writing.
		awaitFull(t, c)
	}
	codes := make(chan int, readers)
	for range readers {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						codes <- ce.Code
					} else {
						codes <- 0
					}
					return
				}
			}
		}()
	}
	stop()
	for range readers {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Errorf("a reader got close code %d, want 1001", code)
		}
	}
	if strings.Contains(logs.String(), "shutdown grace expired") {
		t.Errorf("the grace expired: close frames waited on each other\n%s", logs.String())
	}
}
