//go:build unix

package process

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func unbuffered(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Unbuffer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestUnbufferStdoutOnlyIsATerminal: stdout is a terminal, in raw mode
// (LF stays LF), stdin and stderr are not; the program is in a group of its
// own in wsbridge's session, with no controlling terminal of its own; the
// end of input is EOF as on pipes, and the exit status comes through.
func TestUnbufferStdoutOnlyIsATerminal(t *testing.T) {
	var stderr []string
	p, err := Start(Spec{
		Path:       "/bin/sh",
		Args:       []string{"-c", `[ -t 1 ] && echo out-tty; [ -t 0 ] || echo in-pipe; [ -t 2 ] || echo err-pipe >&2; exec 3>&1; stty -a <&3 | grep -o -- '-opost' | head -1; n=$(wc -c); echo "read $n"; exit 3`},
		Env:        []string{"PATH=/usr/bin:/bin"},
		Unbuffer:   true,
		StderrLine: func(line string, _ bool) { stderr = append(stderr, line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if pgid, _ := unix.Getpgid(p.Pid()); pgid != p.Pid() {
		t.Errorf("process group %d, want its own (%d)", pgid, p.Pid())
	}
	mine, _ := unix.Getsid(0)
	if sid, _ := unix.Getsid(p.Pid()); sid != mine {
		t.Errorf("session %d, want wsbridge's (%d): not a session of its own", sid, mine)
	}
	p.Write([]byte("12345"))
	p.CloseWrite()
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "out-tty\nin-pipe\n-opost\nread 5\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if s := p.Wait(); s.Code != 3 {
		t.Errorf("status %v, want exit 3", s)
	}
	p.Close()
	if len(stderr) != 1 || stderr[0] != "err-pipe" {
		t.Errorf("stderr lines %q, want [err-pipe]", stderr)
	}
}

// TestUnbufferEveryByteAfterExit: every byte value comes through as written,
// none lost, even when the reader starts only after the program has exited
// and its output was cut (the straggler time passed): what the terminal
// still holds is read first.
func TestUnbufferEveryByteAfterExit(t *testing.T) {
	// Twice what the terminal's read buffer holds: the rest waits in the
	// kernel's queue before it, and the program exits without a reader
	// (a terminal took 10 KiB, not 16, before its writer waited, here).
	var all []byte
	for i := range 32 * 256 {
		all = append(all, byte(i))
	}
	file := filepath.Join(t.TempDir(), "bytes")
	if err := os.WriteFile(file, all, 0o644); err != nil {
		t.Fatal(err)
	}
	for run := range 10 {
		p := unbuffered(t, "cat "+file)
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("cat did not exit with its output unread: the terminal holds less than the test thinks")
		}
		for i := 0; !p.cut.Load(); i++ {
			if i == 1000 {
				t.Fatal("the output was never cut after the program exited")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Reads of a terminal's read buffer (4095 bytes) each: what the
		// kernel has not moved into it yet is not counted by TIOCINQ.
		var out []byte
		buf := make([]byte, 4095)
		for {
			n, err := p.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, all) {
			t.Fatalf("run %d: read %d bytes, want %d; equal up to byte %d", run, len(out), len(all), commonPrefix(out, all))
		}
		p.Close()
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestUnbufferLineArrivesWhileRunning: a C program's stdio (here sed's)
// flushes each line to a terminal: the line arrives while sed still runs
// (it waits for its input's end).
func TestUnbufferLineArrivesWhileRunning(t *testing.T) {
	p, err := Start(Spec{Path: "/bin/sed", Args: []string{"-n", "p"}, Env: []string{}, Unbuffer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write([]byte("first\n"))
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 100)
		n, _ := p.Read(b)
		got <- string(b[:n])
	}()
	select {
	case line := <-got:
		if line != "first\n" {
			t.Errorf("read %q, want \"first\\n\"", line)
		}
	case <-p.Done():
		t.Fatal("sed ended before its input did")
	case <-time.After(10 * time.Second):
		t.Fatal("the line never came while sed ran")
	}
	p.CloseWrite()
	if s := p.Wait(); s.Code != 0 {
		t.Errorf("status %v", s)
	}
}
