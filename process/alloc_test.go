//go:build unix

package process

import (
	"testing"
)

// The output pump waits for a program's output, then reads it, for every
// message: neither allocates.
func TestWaitReadAndReadAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := shell(t, "exec cat")
	line, buf := []byte("0123456789abcdef\n"), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Write(line); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(line); {
			if err := p.WaitRead(); err != nil {
				t.Fatal(err)
			}
			n, err := p.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per line, want 0", allocs)
	}
}
