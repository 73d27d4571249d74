//go:build unix

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The programs of the --unbuffer tests print a line without flushing it,
// say so with a file (printed), wait for the test's file (go), leave
// another (done), print a last line and exit 3. A line that reaches the
// client before the test writes go came while the program ran; a line
// that comes once done is there came at exit. No clock is read.
const (
	unbufferPython = `
import os, sys, time
print("early")
open(sys.argv[1] + "/printed", "w").close()
for _ in range(6000):
    if os.path.exists(sys.argv[1] + "/go"):
        break
    time.sleep(0.01)
open(sys.argv[1] + "/done", "w").close()
print("late")
sys.exit(3)
`
	unbufferC = `
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void touch(const char *dir, const char *name) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fclose(fopen(path, "w"));
}

int main(int argc, char **argv) {
	char go[4096];
	printf("early\n");
	touch(argv[1], "printed");
	snprintf(go, sizeof go, "%s/go", argv[1]);
	for (int i = 0; i < 6000 && access(go, F_OK) != 0; i++)
		usleep(10000);
	touch(argv[1], "done");
	printf("late\n");
	return 3;
}
`
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// awaitFile waits (20s at most) until path exists.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; !exists(path); i++ {
		if i == 2000 {
			t.Fatalf("%s never came", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkLineTiming runs one session of an unbufferC or unbufferPython
// program (its argument is its folder): with unbuffered, its first line
// must come while it still runs; without, only at its exit. Both lines and
// the exit status come either way.
func checkLineTiming(t *testing.T, inst *instance, path, dir string, unbuffered bool) {
	t.Helper()
	c := inst.dial(path, nil)
	if !unbuffered {
		awaitFile(t, filepath.Join(dir, "printed"))
		os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	}
	expectMessage(t, c, websocket.TextMessage, "early")
	if done := exists(filepath.Join(dir, "done")); done == unbuffered {
		t.Errorf("unbuffered %v: the first line came after the program went on: %v, want %v", unbuffered, done, !unbuffered)
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	r := readAll(t, c)
	if strings.Join(r.all, "|") != "late" || r.code != 4003 || r.reason != "exit 3" {
		t.Errorf("unbuffered %v: then %q, close %d %q; want \"late\", 4003 \"exit 3\"", unbuffered, r.all, r.code, r.reason)
	}
	for _, f := range []string{"printed", "go", "done"} {
		os.Remove(filepath.Join(dir, f))
	}
}

// TestUnbufferPython: Python buffers print() on a pipe until exit; with
// --unbuffer the line comes at once.
func TestUnbufferPython(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "Debian package python3")
	dir := t.TempDir()
	for _, unbuffered := range []bool{false, true} {
		args := []string{"/usr/bin/python3", "-c", unbufferPython, dir}
		if unbuffered {
			args = append([]string{"--unbuffer"}, args...)
		}
		inst := start(t, args...)
		checkLineTiming(t, inst, "/", dir, unbuffered)
		inst.stop()
	}
}

// TestUnbufferC: a C program's printf, built here with gcc, the same; and
// exec.unbuffer in a config file does what --unbuffer does.
func TestUnbufferC(t *testing.T) {
	requireTool(t, "/usr/bin/gcc", "Debian packages gcc and libc6-dev")
	dir := t.TempDir()
	src, prog := filepath.Join(dir, "early.c"), filepath.Join(dir, "early")
	writeFiles(t, dir, map[string]string{"early.c": unbufferC})
	if out, err := exec.Command("/usr/bin/gcc", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	plain := start(t, prog, dir)
	checkLineTiming(t, plain, "/", dir, false)
	unbuffered := start(t, "--unbuffer", prog, dir)
	checkLineTiming(t, unbuffered, "/", dir, true)

	cfg := "listen: [{port: 0}]\nroutes:\n" +
		"  - {path: /plain, exec: {command: " + prog + ", args: [" + dir + "]}}\n" +
		"  - {path: /unbuffered, exec: {command: " + prog + ", args: [" + dir + "], unbuffer: true}}\n"
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": cfg})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	checkLineTiming(t, inst, "/plain", dir, false)
	checkLineTiming(t, inst, "/unbuffered", dir, true)
}

// TestUnbufferInputOutputAndEnding: under --unbuffer stdin is still a pipe
// whose end the client's close (or 4500, end of input) delivers; output
// comes without CRLF in every framing; stdout alone is a terminal; stderr
// stays apart (logged, or JSON messages of their own); the close code
// carries the exit status.
func TestUnbufferInputOutputAndEnding(t *testing.T) {
	wc := start(t, "--unbuffer", "--framing", "raw", "/usr/bin/wc", "-c")
	for _, code := range []int{1000, 4500} {
		c := wc.dial("/", nil)
		c.WriteMessage(websocket.TextMessage, []byte("abc"))
		c.WriteMessage(websocket.TextMessage, []byte("de"))
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""))
		r := readAll(t, c)
		if got := strings.Join(r.all, ""); got != "5\n" || r.code != 1000 {
			t.Errorf("close %d: wc -c said %q, close %d %q; want \"5\\n\", 1000", code, got, r.code, r.reason)
		}
	}

	script := `[ -t 1 ] && echo stdout-tty; [ -t 0 ] || echo stdin-pipe; [ -t 2 ] || echo stderr-pipe >&2; exit 3`
	inst := start(t, "--unbuffer", "/bin/sh", "-c", script)
	r := readAll(t, inst.dial("/", nil))
	if got := strings.Join(r.all, "|"); got != "stdout-tty|stdin-pipe" || r.code != 4003 || r.reason != "exit 3" {
		t.Errorf("got %q, close %d %q; want \"stdout-tty|stdin-pipe\", 4003 \"exit 3\"", got, r.code, r.reason)
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "stderr" && m["line"] == "stderr-pipe" })

	inst = start(t, "--unbuffer", "--stderr", "json", "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
	r = readAll(t, inst.dial("/", nil))
	got := map[string]string{}
	for _, m := range r.texts {
		var msg struct{ Stream, Data string }
		if err := json.Unmarshal([]byte(m), &msg); err != nil {
			t.Fatalf("message %q: %v", m, err)
		}
		got[msg.Stream] += msg.Data
	}
	if got["stdout"] != "out" || got["stderr"] != "err" || len(r.texts) != 2 || r.code != 4003 {
		t.Errorf("--stderr json: %q, close %d; want out and err apart, 4003", r.texts, r.code)
	}
}

// TestUnbufferBytesExact: every byte value comes through a terminal in raw
// mode as the program wrote it, in binary framing (3 MiB of random bytes)
// and in raw framing (every value, in order: text where it is UTF-8,
// binary messages where not).
func TestUnbufferBytesExact(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 3<<20)
	rand.Read(random)
	var values []byte
	for i := range 64 * 256 {
		values = append(values, byte(i))
	}
	os.WriteFile(filepath.Join(dir, "random"), random, 0o644)
	os.WriteFile(filepath.Join(dir, "values"), values, 0o644)
	for _, tc := range []struct {
		framing, file string
		want          []byte
	}{{"binary", "random", random}, {"raw", "values", values}} {
		inst := start(t, "--unbuffer", "--framing", tc.framing, "/bin/cat", filepath.Join(dir, tc.file))
		c := inst.dial("/", nil)
		var got []byte
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1000 {
					t.Errorf("%s: ended with %v, want close 1000", tc.framing, err)
				}
				break
			}
			got = append(got, data...)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %d bytes (sha256 %x), want %d (%x)", tc.framing, len(got), sha256.Sum256(got), len(tc.want), sha256.Sum256(tc.want))
		}
	}
}

// TestUnbufferLeavesNothing: the program's group is stopped and reaped as
// on pipes, with the same close codes: a background job holding stdout
// after the program exits, and a program its client leaves, are gone with
// their sessions; nothing is left for wsbridge to reap.
func TestUnbufferLeavesNothing(t *testing.T) {
	mark := newMarker()
	defer killProcesses(mark)
	var codes [][2]int
	for _, flags := range [][]string{nil, {"--unbuffer"}} {
		inst := start(t, append(flags, "--url-args", "/bin/sh", "-c", `sleep "$1" & echo "$2"; [ "$2" = bye ] || sleep "$1"`, "sh")...)
		r := readAll(t, inst.dial("/?arg="+mark+"&arg=bye", nil))
		if got := strings.Join(r.all, "|"); got != "bye" || r.code != 1000 {
			t.Errorf("%v, background job: got %q, close %d; want \"bye\", 1000", flags, got, r.code)
		}
		waitNoProcesses(t, mark)

		c := inst.dial("/?arg="+mark+"&arg=hi", nil)
		expectMessage(t, c, websocket.TextMessage, "hi")
		waitProcesses(t, mark, 3) // sh (its arguments hold the mark) and two sleeps
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		left := readAll(t, c)
		waitNoProcesses(t, mark)
		waitNoChildren(t, inst)
		codes = append(codes, [2]int{r.code, left.code})
	}
	if codes[0] != codes[1] || codes[1][1] < 4300 {
		t.Errorf("close codes on pipes %v, with --unbuffer %v: want the same, the second a signal's", codes[0], codes[1])
	}
}

// TestUnbufferIdleSessionsHoldNoThreads: the terminal's master is read in
// Go's poller, as a pipe is: idle sessions wait without a thread (or a
// buffer) each.
func TestUnbufferIdleSessionsHoldNoThreads(t *testing.T) {
	idleSessionsHoldNoThreads(t, start(t, "--unbuffer", "/bin/cat"))
}

// TestUnbufferShared: one shared program on a terminal serves its clients
// each line at once, as on its own.
func TestUnbufferShared(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "Debian package python3")
	dir := t.TempDir()
	inst := start(t, "--shared", "--unbuffer", "/usr/bin/python3", "-c", unbufferPython, dir)
	checkLineTiming(t, inst, "/", dir, true)
}

// TestUnbufferRefused: --unbuffer is a usage error with --pty and with a
// dialing backend, in one line that names it.
func TestUnbufferRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--unbuffer", "--pty", "sh"}, "--unbuffer means nothing with --pty"},
		{[]string{"--unbuffer", "--tcp", "127.0.0.1:1"}, "--unbuffer is for programs; it means nothing with --tcp"},
	} {
		code, out := launch(t, tc.args...).exitCode(t)
		if code != 2 || !strings.HasPrefix(out, "wsbridge: ") || !strings.Contains(out, tc.want) || strings.Contains(out, "\n") {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line naming %q", tc.args, code, out, tc.want)
		}
	}
}
