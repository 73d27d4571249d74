//go:build unix

package e2e

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// signal sends sig to wsbridge.
func (inst *instance) signal(sig syscall.Signal) {
	inst.t.Helper()
	if err := inst.cmd.Process.Signal(sig); err != nil {
		inst.t.Fatal(err)
	}
}

// waitExit waits for wsbridge to exit, up to within, and fails unless it
// exited 0.
func (inst *instance) waitExit(within time.Duration) {
	inst.t.Helper()
	select {
	case <-inst.exited:
	case <-time.After(within):
		inst.t.Fatalf("wsbridge is still running %s later:\n%s", within, inst.output())
	}
	if inst.err != nil {
		inst.t.Fatalf("wsbridge exit: %v:\n%s", inst.err, inst.output())
	}
}

// msgIs matches a log line by its message.
func msgIs(msg string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == msg }
}

// closeCode reads until the session closes and returns its close code.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	return readAll(t, c).code
}

// TestDrainDelayServesThenSecondSignalStops: during the drain's delay new
// sessions and plain requests are served; a second SIGTERM, or a SIGINT,
// then ends at once (long before the delay is over): 1001 to every session,
// exit 0, nothing of the programs left.
func TestDrainDelayServesThenSecondSignalStops(t *testing.T) {
	for _, second := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(second.String(), func(t *testing.T) {
			mark := newMarker()
			t.Cleanup(func() { killProcesses(mark) })
			// The delay and the timeout are far longer than waitExit's wait:
			// an exit within it is the second signal's doing.
			inst := start(t, append([]string{"--drain-timeout", "10m", "--drain-delay", "5m", "--closems", "50"}, escaping(mark)...)...)
			before := inst.dial("/", nil)
			expectMessage(t, before, websocket.TextMessage, "started")

			inst.signal(syscall.SIGTERM)
			inst.waitLog(func(m map[string]any) bool {
				return strings.HasPrefix(m["msg"].(string), "draining: not ready") && m["sessions"] == 1.0
			})
			during := inst.dial("/", nil) // a load balancer has not noticed yet
			expectMessage(t, during, websocket.TextMessage, "started")
			resp, err := http.Get("http://" + inst.Host + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUpgradeRequired {
				t.Errorf("a plain request during the delay: %s, want 426 as before the drain", resp.Status)
			}
			waitProcesses(t, "sleep\x00"+mark, 4)

			inst.signal(second)
			inst.waitExit(30 * time.Second)
			for name, c := range map[string]*websocket.Conn{"before": before, "during": during} {
				if code := closeCode(t, c); code != websocket.CloseGoingAway {
					t.Errorf("the session opened %s the drain closed with %d, want 1001", name, code)
				}
			}
			inst.waitLog(msgIs("drain cut short: shutting down now"))
			waitNoProcesses(t, mark)
		})
	}
}

// TestDrainRefusesAfterDelayAndEndsWithLastSession: after the delay every
// new request is 503 with Retry-After, and when the last live session ends
// on its own wsbridge exits 0, long before the drain's timeout.
func TestDrainRefusesAfterDelayAndEndsWithLastSession(t *testing.T) {
	inst := start(t, "--drain-timeout", "10m", "--drain-delay", "100ms", "--", "sh", "-c", "echo started; read x; echo bye $x")
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "started")

	inst.signal(syscall.SIGTERM)
	inst.waitLog(msgIs("draining: refusing new requests with 503"))
	_, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("an upgrade after the delay: %v %+v, want 503 with Retry-After", err, resp)
	}
	resp, err = http.Get("http://" + inst.Host + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Errorf("a plain request after the delay: %s %v (close %v), want 503 with Retry-After, closing", resp.Status, resp.Header, resp.Close)
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session refused: draining" && m["path"] == "/" })

	// The live session goes on until it ends on its own.
	if err := c.WriteMessage(websocket.TextMessage, []byte("now")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, websocket.TextMessage, "bye now")
	if code := closeCode(t, c); code != websocket.CloseNormalClosure {
		t.Errorf("the live session closed with %d, want 1000 (the program's own end)", code)
	}
	inst.waitExit(30 * time.Second) // the timeout is 10 minutes
	inst.waitLog(msgIs("drained: no session left"))
}

// TestDrainTimeoutGoesAway: a session that does not end by the drain's
// timeout gets 1001 and its program the ladder; wsbridge exits 0 and
// leaves nothing behind.
func TestDrainTimeoutGoesAway(t *testing.T) {
	mark := newMarker()
	t.Cleanup(func() { killProcesses(mark) })
	inst := start(t, append([]string{"--drain-timeout", "1s", "--closems", "50"}, escaping(mark)...)...)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "started")
	waitProcesses(t, "sleep\x00"+mark, 2)

	inst.signal(syscall.SIGTERM)
	if code := closeCode(t, c); code != websocket.CloseGoingAway {
		t.Errorf("closed with %d, want 1001", code)
	}
	inst.waitExit(30 * time.Second)
	line := inst.waitLog(msgIs("drain timeout: going away"))
	if line["sessions"] != 1.0 {
		t.Errorf("drain timeout line: %v, want sessions=1", line)
	}
	waitNoProcesses(t, mark)
}
