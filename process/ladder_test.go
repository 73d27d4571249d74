//go:build unix

package process

import (
	"runtime"
	"syscall"
	"testing"
)

// TestStopStartsNoGoroutine: Stop arms the ladder's first step as a timer;
// it used to start a goroutine per session that waited on it, which a
// session's rate paid for (its creation, its stack) though most programs
// end on their own at the end of their input. The ladder still climbs.
func TestStopStartsNoGoroutine(t *testing.T) {
	p := shell(t, "trap '' INT; exec sleep 1000") // the exec keeps the trap: SIGTERM ends it
	before := runtime.NumGoroutine()
	p.Stop()
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after Stop, %d before", after, before)
	}
	if s := p.Wait(); s.Signal != syscall.SIGTERM {
		t.Errorf("status %v, want signal 15 (the ladder's second step)", s)
	}
}
