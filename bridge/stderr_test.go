package bridge

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gorilla/websocket"
)

// TestStderrJSONEndsEveryWay: sessions whose program floods both streams
// as JSON lines end by a clean close, by the client vanishing, and by the
// server's shutdown; goleak (TestMain) fails on any goroutine left.
func TestStderrJSONEndsEveryWay(t *testing.T) {
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Backend = &Exec{Program: Program{Command: "/bin/sh", Args: []string{"-c", "yes err >&2 & exec yes out"}, Log: slog.New(slog.DiscardHandler)},
			Stderr: StderrJSON, MaxMessage: s.Routes[0].MaxMessage}
	})
	var open []*websocket.Conn
	for i := range 9 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		for seen := map[string]bool{}; !seen["stdout"] || !seen["stderr"]; {
			var msg struct{ Stream, Data string }
			_, data, err := c.ReadMessage()
			if err != nil || json.Unmarshal(data, &msg) != nil || msg.Data != msg.Stream[3:] {
				t.Fatalf("message %q: %v", data, err)
			}
			seen[msg.Stream] = true
		}
		t.Log("session", i)
		switch i % 3 {
		case 0: // a clean close
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
			}
			c.Close()
		case 1: // the client vanishes
			c.Close()
		default: // left for shutdown
			open = append(open, c)
		}
	}
	t.Log("before stop")
	stop()
	t.Log("after stop")
	for _, c := range open {
		c.Close()
	}
}

func TestParseStderrMode(t *testing.T) {
	for _, m := range []StderrMode{StderrLog, StderrPass, StderrJSON} {
		if got, err := ParseStderrMode(m.String()); got != m || err != nil {
			t.Errorf("%s: %v %v", m, got, err)
		}
	}
	if _, err := ParseStderrMode("message"); err == nil {
		t.Error("an unknown mode was taken")
	}
}
