//go:build unix

package bridge

import (
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// stallingSession takes its first writes at once, then blocks every write
// until stopped: a backend that stops reading its input.
type stallingSession struct {
	*fakeSession
	writes     atomic.Int32
	stallAfter int32
}

func (s *stallingSession) Open(*http.Request) (Session, error) { return s, nil }

func (s *stallingSession) Write(b []byte) (int, error) {
	if s.writes.Add(1) <= s.stallAfter {
		return len(b), nil
	}
	<-s.stopped
	return 0, io.ErrClosedPipe
}

// TestWriteBackendArmsItsTimerRarely: writes that do not block arm the
// hang-up timer once per watchAfter at most, not once each: a timer armed
// earlier than the poller's sleep wakes a thread.
func TestWriteBackendArmsItsTimerRarely(t *testing.T) {
	s := &wsSession{backend: newFake(Ending{}), log: slog.New(slog.DiscardHandler)}
	msg := []byte("0123456789abcdef")
	began := time.Now()
	for range 1000 {
		if err := s.writeBackend(msg); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(began)
	s.stopWatch()
	s.watch.mu.Lock()
	arms := s.watch.arms
	s.watch.mu.Unlock()
	if most := 1 + int(took/watchAfter); arms > most {
		t.Errorf("the timer was armed %d times in 1000 writes over %v, want at most %d", arms, took, most)
	}
}

// TestWriteBackendWatchesALaterWrite: after writes that went through at
// once, a write that blocks is still watched, and the client's hangup stops
// the backend: right after them (the timer armed by the first is re-armed
// for the rest), and after a pause (the timer found no write and was left
// unarmed: the blocked write arms it).
func TestWriteBackendWatchesALaterWrite(t *testing.T) {
	for name, pause := range map[string]time.Duration{"at once": 0, "after a pause": 3 * watchAfter} {
		t.Run(name, func(t *testing.T) {
			f := &stallingSession{fakeSession: newFake(Ending{}), stallAfter: 50}
			c := dialFake(t, f, nil)
			send := func() {
				if err := c.WriteMessage(websocket.BinaryMessage, []byte("0123456789abcdef")); err != nil {
					t.Fatal(err)
				}
			}
			for range f.stallAfter {
				send()
			}
			for f.writes.Load() < f.stallAfter {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(pause)
			send() // blocks in the backend
			for f.writes.Load() <= f.stallAfter {
				time.Sleep(time.Millisecond)
			}
			c.NetConn().Close() // gone without a close frame
			select {
			case ev := <-f.events:
				if ev != "stop" {
					t.Fatalf("the backend got %q, want stop", ev)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the client hung up during a blocked write, and the backend was not stopped")
			}
		})
	}
}
