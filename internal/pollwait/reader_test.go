//go:build unix

package pollwait

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// countedBuffer is a Buffer that says whether it is taken, and how often it
// was taken and given back.
type countedBuffer struct {
	mu              sync.Mutex
	b               [64]byte
	held            bool
	takes, releases int
}

func (c *countedBuffer) Take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = true
	c.takes++
	return c.b[:]
}

func (c *countedBuffer) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.releases++
	}
	c.held = false
}

func (c *countedBuffer) state() (held bool, takes, releases int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held, c.takes, c.releases
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func newPipeReader(t *testing.T, f *os.File) *Reader {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(rc)
}

// TestReaderWaitsWithoutTheBuffer: what is there is read at once, into the
// buffer taken; with nothing there the buffer goes back before the wait,
// and is taken again for what comes; the end of the stream reads 0.
func TestReaderWaitsWithoutTheBuffer(t *testing.T) {
	r, w := pipe(t)
	rd := newPipeReader(t, r)
	buf := &countedBuffer{}
	w.Write([]byte("at once"))
	n, err := rd.Read(buf)
	if held, takes, _ := buf.state(); err != nil || string(buf.b[:n]) != "at once" || !held || takes != 1 {
		t.Fatalf("read %q, %v; held %v after %d takes; want the data in the one buffer taken", buf.b[:n], err, held, takes)
	}
	buf.Release()

	type result struct {
		n   int
		err error
	}
	done := make(chan result)
	go func() {
		n, err := rd.Read(buf)
		done <- result{n, err}
	}()
	// The read finds nothing, gives the buffer back and waits.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if _, takes, releases := buf.state(); takes == 2 && releases == 2 {
			break
		}
	}
	if held, _, _ := buf.state(); held {
		t.Fatal("the buffer is held during the wait")
	}
	w.Write([]byte("later"))
	res := <-done
	if held, takes, _ := buf.state(); res.err != nil || string(buf.b[:res.n]) != "later" || !held || takes != 3 {
		t.Fatalf("read %q, %v; held %v after %d takes; want the data in a buffer taken anew", buf.b[:res.n], res.err, held, takes)
	}
	w.Close()
	if n, err := rd.Read(buf); n != 0 || err != nil {
		t.Fatalf("at the end: %d, %v; want 0, nil", n, err)
	}
}

// TestReaderWaitError: a deadline that passes during the wait, or that
// has passed before it, ends the read with its error, the buffer given back.
func TestReaderWaitError(t *testing.T) {
	r, _ := pipe(t)
	rd := newPipeReader(t, r)
	buf := &countedBuffer{}
	r.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	n, err := rd.Read(buf)
	if held, _, _ := buf.state(); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || held {
		t.Fatalf("%d, %v, buffer held %v; want 0, the deadline, not held", n, err, held)
	}
	buf.Take() // held from before: the read fails before it reads
	n, err = rd.Read(buf)
	if held, _, _ := buf.state(); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || held {
		t.Fatalf("past the deadline: %d, %v, buffer held %v; want 0, the deadline, not held", n, err, held)
	}
}

// TestReaderAllocatesNothing: the poller's callback is made once, not per
// read.
func TestReaderAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r, w := pipe(t)
	rd := newPipeReader(t, r)
	buf := &countedBuffer{}
	msg := []byte("0123456789abcdef")
	allocs := testing.AllocsPerRun(100, func() {
		w.Write(msg)
		if n, err := rd.Read(buf); err != nil || n != len(msg) {
			t.Fatalf("%d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want 0", allocs)
	}
}
