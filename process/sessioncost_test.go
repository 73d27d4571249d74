//go:build unix

package process

import (
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestStopStartsNoGoroutine: Stop arms the ladder's first step as a timer;
// it used to start a goroutine per session that waited on it, which a
// session's rate paid for (its creation, its stack) though most programs
// end on their own at the end of their input. (That the ladder still climbs
// is TestStopClimbsLadderToWholeGroup's.)
func TestStopStartsNoGoroutine(t *testing.T) {
	// A long grace: no step of the ladder fires (in a goroutine of its
	// own, as a timer's function does) while the goroutines are counted.
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "exec sleep 1000"}, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := runtime.NumGoroutine()
	p.Stop()
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after Stop, %d before", after, before)
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	_, _ = io.Copy(io.Discard, p) // the output's end: Wait need not give it Grace
	if s := p.Wait(); s.Signal != syscall.SIGKILL {
		t.Errorf("status %v, want signal 9", s)
	}
}

// TestStderrEndTakesNoBuffer: a program that wrote nothing to stderr (most
// do) ends without the reader taking a line buffer (4 KiB a session) only
// to read the pipe's end.
func TestStderrEndTakesNoBuffer(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &Process{stderr: r, stderrDone: make(chan struct{})}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p.readStderr(func(string, bool) { t.Error("a line from an empty pipe") })
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n >= MaxStderrLine {
		t.Errorf("%d bytes allocated to read an empty stderr's end", n)
	}
	// A line still comes through.
	r, w, _ = os.Pipe()
	w.WriteString("oops\n")
	w.Close()
	p = &Process{stderr: r, stderrDone: make(chan struct{})}
	var lines []string
	p.readStderr(func(s string, _ bool) { lines = append(lines, s) })
	if len(lines) != 1 || lines[0] != "oops" {
		t.Errorf("lines %q, want [oops]", lines)
	}
}
