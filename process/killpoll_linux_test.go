package process

import (
	"bytes"
	"os/exec"
	"testing"
	"time"
)

// TestKillGroupPollingWaitsForDeath: the group kill of macOS and FreeBSD,
// run here, returns once the group's members have died, not just been sent
// SIGKILL. The member is run late by the scheduler, as on a loaded
// machine: at nice 19, on a CPU that a busy loop (outside the group)
// holds, it takes some milliseconds to die. (SCHED_IDLE was starved past
// the kill's 5 s bound by CI's other test packages on that CPU.)
func TestKillGroupPollingWaitsForDeath(t *testing.T) {
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
	p := shell(t, "taskset -c 0 nice -n 19 sleep 1000 & echo started; wait")
	var out bytes.Buffer
	buf := make([]byte, 64)
	for !bytes.Contains(out.Bytes(), []byte("started")) {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatalf("output %q: %v", out.Bytes(), err)
		}
		out.Write(buf[:n])
	}
	for i := 0; len(groupMembers(p.Pid())) < 2 || !onCPU(busy.Process.Pid); i++ {
		if i == 500 {
			t.Fatalf("want the shell and sleep in the group, found %v, and the busy loop running", groupMembers(p.Pid()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	killGroupPolling(p.Pid())
	if m := groupMembers(p.Pid()); len(m) != 0 {
		t.Fatalf("left in the group after the kill: %v", m)
	}
}
