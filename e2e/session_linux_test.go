package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// TestOutOfFilesIs503: a wsbridge out of file descriptors answers 503 with
// Retry-After, which `wsbridge connect` reads as busy (exit 75), and logs
// it as an error; once descriptors are free again, it serves.
func TestOutOfFilesIs503(t *testing.T) {
	l := backend(t, "tcp", "127.0.0.1:0", echo)
	for name, args := range map[string][]string{
		"exec": {"/bin/cat"},
		"tcp":  {"--tcp", l.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			inst := start(t, args...)
			pid := inst.cmd.Process.Pid
			var limit unix.Rlimit
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &limit); err != nil {
				t.Fatal(err)
			}
			// The accepted connection takes the lowest free descriptor; the
			// program's pipes or the backend's socket need the next one,
			// which the limit forbids.
			low := limit
			low.Cur = uint64(freeFDs(t, pid, 2)[1])
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
				t.Fatal(err)
			}
			_, resp, err := websocket.DefaultDialer.Dial(inst.URL+"/", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("out of descriptors: %v %v, want 503 with Retry-After", resp, err)
			}
			inst.waitLog(func(m map[string]any) bool { return m["level"] == "ERROR" })

			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &limit, nil); err != nil {
				t.Fatal(err)
			}
			c := inst.dial("/", nil)
			c.WriteMessage(websocket.TextMessage, []byte("back"))
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "back" {
				t.Fatalf("after the limit: %q %v", msg, err)
			}
		})
	}
}

// freeFDs lists the n lowest descriptor numbers pid has free.
func freeFDs(t *testing.T, pid, n int) []int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	open := map[int]bool{}
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		open[fd] = true
	}
	var free []int
	for fd := 0; len(free) < n; fd++ {
		if !open[fd] {
			free = append(free, fd)
		}
	}
	return free
}
