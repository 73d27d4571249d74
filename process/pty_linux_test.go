package process

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTTYStopHangsUp: Stop is a hangup; a shell that ignores it is taken down
// by the ladder, and a job in a process group of its own (job control) that
// ignores it too is killed with the session at Close.
//
// A shell that dies of SIGINT instead was not killed by the hangup: run
// with SIGHUP ignored (nohup), the test's shells inherit that, and the
// ladder's SIGINT, 100 ms later, ends them: the test skips, saying so.
// The first shell is given an hour's Grace, so that its status is the
// hangup's however long a loaded machine takes to run it (bash catches
// SIGHUP and re-raises it once it gets to it); the test waits for its
// death, not for the hour.
func TestTTYStopHangsUp(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatal("SIGHUP is ignored here (nohup?), and so in the shells started, and WSBRIDGE_REQUIRE_ALL=1")
		}
		t.Skip("SIGHUP is ignored here (nohup?), and so in the shells started: no hangup ends them")
	}
	size := Size{Cols: 80, Rows: 24}
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "read x"}, Env: []string{"PATH=/usr/bin:/bin"}, TTY: &size, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Stop()
	io.ReadAll(p) // the end of output, once the shell is gone: Wait waits for it, or for the Grace
	if s := p.Wait(); s.Signal != syscall.SIGHUP {
		t.Fatalf("status %v, want signal 1", s)
	}

	p = terminal(t, "set -m; trap '' HUP INT; (trap '' HUP; exec sleep 1000) & echo started; wait", Size{Cols: 80, Rows: 24})
	var out bytes.Buffer
	readUntil(t, p, &out, "started")
	for i := 0; len(sessionMembers(p.Pid())) < 2; i++ {
		if i == 500 {
			t.Fatalf("want the shell and its job in the session, found %v", sessionMembers(p.Pid()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := groupMembers(p.Pid()); len(g) != 1 {
		t.Fatalf("the job should have a process group of its own; the shell's group has %v", g)
	}
	p.Stop()
	if s := p.Wait(); s.Signal != syscall.SIGTERM {
		t.Fatalf("status %v, want signal 15", s)
	}
	p.Close()
	if m := sessionMembers(p.Pid()); len(m) != 0 {
		t.Fatalf("left in the session after Close: %v", m)
	}
}

// TestTTYBackgroundJobDoesNotHoldOutput: a job that keeps the terminal open
// after the shell exits ends the output after the straggler time.
func TestTTYBackgroundJobDoesNotHoldOutput(t *testing.T) {
	p := terminal(t, "set -m; (trap '' HUP; exec sleep 1000) & echo bye", Size{Cols: 80, Rows: 24})
	done := make(chan []byte)
	go func() {
		out, _ := io.ReadAll(p)
		done <- out
	}()
	select {
	case out := <-done:
		if !strings.Contains(string(out), "bye") {
			t.Fatalf("output %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("output never ended while a job held the terminal")
	}
	p.Close()
	if m := sessionMembers(p.Pid()); len(m) != 0 {
		t.Fatalf("left in the session after Close: %v", m)
	}
}

// TestTTYCloseWaitsForKilledJobs: when Close returns, the session's jobs
// have died, not just been sent SIGKILL. The job here is run late by the
// scheduler, as on a loaded machine: at nice 19, on a CPU that a busy loop
// (outside the session) holds. Once it has had SIGKILL pending for 200 ms
// it is set free (the busy loop ended, the job let run on every CPU), so it
// dies soon whatever else runs on that CPU: starved to the end, CI's other test
// packages on that CPU kept it alive past Close's 5 s bound (SCHED_IDLE
// once, nice 19 since). A Close that does not wait returns before that.
func TestTTYCloseWaitsForKilledJobs(t *testing.T) {
	for _, tool := range []string{"taskset", "nice"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux)", tool)
		}
	}
	busy := exec.Command("taskset", "-c", "0", "sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer busy.Wait()
	defer busy.Process.Kill()
	p := terminal(t, "set -m; (trap '' HUP; exec taskset -c 0 nice -n 10 sleep 1000) & echo started; wait", Size{Cols: 80, Rows: 24})
	var out bytes.Buffer
	readUntil(t, p, &out, "started")
	for i := 0; len(sessionMembers(p.Pid())) < 2 || !onCPU(busy.Process.Pid); i++ {
		if i == 500 {
			t.Fatalf("want the shell and its job in the session, found %v, and the busy loop running", sessionMembers(p.Pid()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var job int
	for _, pid := range sessionMembers(p.Pid()) {
		if pid != p.Pid() {
			job = pid
		}
	}
	left := make(chan []int, 1)
	go func() {
		p.Close()
		left <- sessionMembers(p.Pid())
	}()
	for deadline := time.Now().Add(time.Minute); !killPending(job); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job %d was not killed in a minute", job) // a hang's end, not a measure
		}
	}
	var m []int
	select {
	case m = <-left: // it died starved, or Close did not wait
	case <-time.After(200 * time.Millisecond): // not a measure: when to help
		_ = busy.Process.Kill()
		var all unix.CPUSet
		for i := range runtime.NumCPU() {
			all.Set(i)
		}
		_ = unix.SchedSetaffinity(job, &all)
		_ = unix.Setpriority(unix.PRIO_PROCESS, job, 0) // as root
		m = <-left
	}
	if len(m) != 0 {
		t.Fatalf("left in the session after Close: %v", m)
	}
}

// killPending says whether pid has SIGKILL pending, or is gone.
func killPending(pid int) bool {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "SigPnd" || k == "ShdPnd") {
			if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<(syscall.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

// onCPU says whether pid has run in user space for a clock tick or more.
func onCPU(pid int) bool {
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 11 && f[11] != "0" // utime
}
