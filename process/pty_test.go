//go:build unix

package process

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func terminal(t *testing.T, script string, size Size) *Process {
	t.Helper()
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, TTY: &size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readUntil reads from p until out contains want, or fails after 10s.
func readUntil(t *testing.T, p *Process, out *bytes.Buffer, want string) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), want) {
			n, err := p.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("output ended (%v) before %q: %q", err, want, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s: %q", want, out)
	}
}

func TestTTYStartsAtItsSizeAndResizes(t *testing.T) {
	p := terminal(t, "stty size; read x; stty size; tty", Size{Cols: 132, Rows: 43})
	var out bytes.Buffer
	readUntil(t, p, &out, "43 132\r\n")
	if err := p.Resize(Size{Cols: 100, Rows: 30}); err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("\n"))
	readUntil(t, p, &out, "30 100\r\n")
	readUntil(t, p, &out, "/dev/pts/")
	if err := p.Resize(Size{Cols: 0, Rows: 30}); err == nil {
		t.Error("a 0-column terminal was accepted")
	}
}

// TestTTYOutputDrainedAtExit: everything the program wrote reaches the
// reader, then EOF, however fast it exits.
func TestTTYOutputDrainedAtExit(t *testing.T) {
	for i := range 50 {
		p := terminal(t, "echo hi; head -c 100000 /dev/zero | tr '\\0' x; exit 3", Size{Cols: 80, Rows: 24})
		out, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if s := p.Wait(); s.Code != 3 {
			t.Fatalf("run %d: status %v", i, s)
		}
		if !bytes.HasPrefix(out, []byte("hi\r\n")) || bytes.Count(out, []byte("x")) != 100000 {
			t.Fatalf("run %d: %d bytes, %d x's, start %q", i, len(out), bytes.Count(out, []byte("x")), out[:min(len(out), 10)])
		}
		p.Close()
	}
}
