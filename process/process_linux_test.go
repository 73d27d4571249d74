package process

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/internal/procfs"
)

// groupMembers lists the live (not zombie) processes whose process group is pgid.
func groupMembers(pgid int) []int {
	var pids []int
	for _, p := range procfs.List() {
		if p.PGID == pgid && p.State != 'Z' {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// waitGone polls until no live process is left in the group.
func waitGone(t *testing.T, pgid int) {
	t.Helper()
	for range 200 {
		if len(groupMembers(pgid)) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process group %d still has %v", pgid, groupMembers(pgid))
}

func TestStopClimbsLadderToWholeGroup(t *testing.T) {
	// The shell ignores SIGINT and SIGTERM and so does its background child,
	// so only the ladder's SIGKILL, sent to the group, ends both.
	p := shell(t, "trap '' INT TERM; sleep 1000 & wait; wait")
	for i := 0; len(groupMembers(p.Pid())) < 2; i++ { // let the shell start sleep
		if i == 500 {
			t.Fatalf("expected shell and sleep in the group, found %v", groupMembers(p.Pid()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	if s := p.Wait(); s.Signal != syscall.SIGKILL {
		t.Fatalf("status %v, want signal 9", s)
	}
	p.Close()
	waitGone(t, p.Pid())
}

func TestGrandchildHoldingStdoutDoesNotHang(t *testing.T) {
	p := shell(t, "sleep 1000 & echo hi")
	done := make(chan []byte)
	go func() {
		out, _ := io.ReadAll(p)
		done <- out
	}()
	select {
	case out := <-done:
		if string(out) != "hi\n" {
			t.Fatalf("output %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("output never ended while a grandchild held stdout")
	}
	if s := p.Wait(); s.Code != 0 {
		t.Fatalf("status %v", s)
	}
	p.Close()
	waitGone(t, p.Pid())
}

func TestCloseKillsLeftoverGroup(t *testing.T) {
	// The grandchild does not hold stdout, so output ends at once; Close must
	// still take it down.
	p := shell(t, "sleep 1000 >/dev/null 2>&1 & echo started")
	io.ReadAll(p)
	p.Wait()
	if len(groupMembers(p.Pid())) == 0 {
		t.Fatal("the background sleep should still be alive before Close")
	}
	p.Close()
	waitGone(t, p.Pid())
}

func TestChildDiesWithParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCESS_TEST_PARENT=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatal(err)
	}
	if len(groupMembers(pid)) != 1 {
		t.Fatalf("child %d not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, pid)
}

// TestGroupKilledBeforeChildReaped: the child that exited is left a zombie
// until what is left of its group has been killed, so the group's id (the
// child's pid) cannot have been given to another process meanwhile: the
// kill after the straggler time (a grandchild holds stdout) and Close's
// (one that does not).
func TestGroupKilledBeforeChildReaped(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		alive  int // of the group until Close: the sleep, if it does not hold stdout
	}{
		{"sleep 1000 & echo started; exit 3", 3, 0}, // output ends when the group is killed, Grace+100ms after the shell
		{"sleep 1000 >/dev/null 2>&1 & echo started", 0, 1},
	} {
		p := shell(t, tc.script)
		io.ReadAll(p)
		if s := p.Wait(); s.Code != tc.code {
			t.Fatalf("%q: status %v, want exit %d", tc.script, s, tc.code)
		}
		if m := groupMembers(p.Pid()); len(m) != tc.alive {
			t.Fatalf("%q: %v in the group before Close, want %d", tc.script, m, tc.alive)
		}
		if st := stateOf(p.Pid()); st != 'Z' {
			t.Fatalf("%q: the shell was reaped before its group was killed (state %q, want a zombie)", tc.script, st)
		}
		p.Close()
		if m := groupMembers(p.Pid()); len(m) != 0 {
			t.Fatalf("%q: left in the group after Close: %v", tc.script, m)
		}
		if st := stateOf(p.Pid()); st != 0 {
			t.Fatalf("%q: Close did not reap the shell (state %q)", tc.script, st)
		}
	}
}

// TestCloseSettlesBeforeReaping: a Close that comes while reap still gives
// what holds the output (a background sleep) its time returns only once reap
// is done with it: reap's kill of the group is made before Close reaps the
// child, or never; not after, when the pid may be another's.
func TestCloseSettlesBeforeReaping(t *testing.T) {
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "sleep 1000 & exit 0"}, Env: []string{"PATH=/usr/bin:/bin"}, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	p.Close()
	select {
	case <-p.settled:
	default:
		t.Fatal("Close returned while reap still waited to kill what holds the output")
	}
	if m := groupMembers(p.Pid()); len(m) != 0 {
		t.Fatalf("left in the group after Close: %v", m)
	}
}
