//go:build unix

package process

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func shell(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   string
	}{
		{"exit 0", "exit 0"},
		{"exit 3", "exit 3"},
		{"exit 255", "exit 255"},
		{"kill -TERM $$", "signal 15 (terminated)"},
		{"kill -KILL $$", "signal 9 (killed)"},
	} {
		p := shell(t, tc.script)
		if got := p.Wait().String(); got != tc.want {
			t.Errorf("%q ended %q, want %q", tc.script, got, tc.want)
		}
	}
}

func TestOutputAndInput(t *testing.T) {
	p := shell(t, "read x; printf 'got %s' \"$x\"")
	if _, err := p.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "got hello" {
		t.Fatalf("output %q", out)
	}
	if s := p.Wait(); s.Code != 0 || s.Signal != 0 {
		t.Fatalf("status %v", s)
	}
}

func TestCloseWriteIsEOF(t *testing.T) {
	p := shell(t, "wc -c")
	p.Write([]byte("12345"))
	p.CloseWrite()
	out, _ := io.ReadAll(p)
	if strings.TrimSpace(string(out)) != "5" {
		t.Fatalf("wc saw %q", out)
	}
}

func TestEnvironmentIsOnlyWhatIsGiven(t *testing.T) {
	os.Setenv("PROCESS_TEST_SECRET", "leak")
	defer os.Unsetenv("PROCESS_TEST_SECRET")
	p, err := Start(Spec{Path: "/usr/bin/env", Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out, _ := io.ReadAll(p)
	if string(out) != "A=1\n" {
		t.Fatalf("env %q", out)
	}
}

func TestStopEndsAtFirstSignalThatWorks(t *testing.T) {
	p := shell(t, "sleep 1000")
	p.Stop()
	if s := p.Wait(); s.Signal != syscall.SIGINT {
		t.Fatalf("status %v, want signal 2", s)
	}
}

func TestStopLetsProgramFinishOnEOF(t *testing.T) {
	p := shell(t, "cat >/dev/null; echo bye")
	p.Stop()
	out, _ := io.ReadAll(p)
	if s := p.Wait(); s.Code != 0 || s.Signal != 0 || string(out) != "bye\n" {
		t.Fatalf("status %v output %q", s, out)
	}
}

func TestStderrLinesBoundedAndNeverBlock(t *testing.T) {
	var mu sync.Mutex
	type line struct {
		text      string
		truncated bool
	}
	var lines []line
	// 1 MiB on stderr without a newline would block a child whose reader stops.
	p, err := Start(Spec{
		Path: "/bin/sh",
		Args: []string{"-c", "head -c 1048576 /dev/zero | tr '\\0' a >&2; echo >&2; echo second >&2; echo out"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		StderrLine: func(s string, truncated bool) {
			mu.Lock()
			lines = append(lines, line{s, truncated})
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(p)
	p.Wait()
	p.Close()
	if string(out) != "out\n" {
		t.Fatalf("stdout %q", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 {
		t.Fatalf("got %d stderr lines, want 2", len(lines))
	}
	if !lines[0].truncated || len(lines[0].text) != MaxStderrLine || strings.Trim(lines[0].text, "a") != "" {
		t.Errorf("first line: truncated=%v len=%d", lines[0].truncated, len(lines[0].text))
	}
	if lines[1] != (line{"second", false}) {
		t.Errorf("second line %+v", lines[1])
	}
}

// TestStderrPiecesAllAfterExit: with StderrPieces an overlong line comes
// whole, in pieces, and a StderrLine slower than the time stderr gets after
// the child's exit still gets everything the child wrote.
func TestStderrPiecesAllAfterExit(t *testing.T) {
	var got strings.Builder // only StderrLine's goroutine writes it until Close
	goOn := make(chan struct{})
	p, err := Start(Spec{
		Path:         "/bin/sh",
		Args:         []string{"-c", "head -c 10000 /dev/zero | tr '\\0' a >&2; echo >&2; seq 5000 >&2"},
		Env:          []string{"PATH=/usr/bin:/bin"},
		StderrPieces: true,
		StderrLine: func(s string, more bool) {
			<-goOn
			got.WriteString(s)
			if !more {
				got.WriteString("\n")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(p)
	p.Wait()
	// Past the time stderr is given after the exit: what the pipe holds
	// must still come (without the wait, this test would pass anyway).
	time.Sleep(3 * ladder[0].wait)
	close(goOn)
	p.Close()
	seq, _ := exec.Command("seq", "5000").Output()
	if want := strings.Repeat("a", 10000) + "\n" + string(seq); got.String() != want {
		t.Errorf("stderr: %d bytes, want %d", got.Len(), len(want))
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Spec{Path: "/nonexistent/prog"}); err == nil {
		t.Fatal("starting a missing program succeeded")
	}
}

// The parent helper starts a long sleep, prints its pid and waits to be killed.
func parentHelper() {
	p, err := Start(Spec{Path: "/bin/sleep", Args: []string{"1000"}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid())
	select {}
}

// TestSlowReaderGetsAllAfterExit: a program that exits with output still in
// its (grown) pipe loses none of it to a reader slower than the straggler
// time: only an empty pipe that something else holds ends the output.
func TestSlowReaderGetsAllAfterExit(t *testing.T) {
	const size = 3 << 20
	p, err := Start(Spec{Path: "/usr/bin/head", Args: []string{"-c", fmt.Sprint(size), "/dev/zero"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := p.Read(buf)
		total += n
		if err != nil {
			break
		}
		if total > 256<<10 {
			time.Sleep(20 * time.Millisecond) // head is long gone: > 1 s of reading
		}
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("output ended before head did")
	}
	if total != size {
		t.Fatalf("read %d of %d bytes", total, size)
	}
}
