package bridge

import "sync"

// readBuffer is the output pump's buffer. It is small while the session is
// idle; when reads fill it (fast output) it becomes a busyBuffer borrowed
// from a pool, and goes back to small when a read brings no more than half
// the small buffer would hold, so only busy sessions hold large buffers. Larger frames are what make a bulk transfer
// fast: per-frame costs dominate at 64 KiB.
type readBuffer struct {
	b      []byte
	small  []byte
	pooled bool // b came from busyPool
}

var busyPool = sync.Pool{New: func() any { b := make([]byte, busyBuffer); return &b }}

func newReadBuffer(size int) *readBuffer {
	small := make([]byte, size)
	return &readBuffer{b: small, small: small}
}

// grow makes the buffer size bytes long, keeping its first keep bytes.
func (rb *readBuffer) grow(keep, size int) {
	if size <= len(rb.b) {
		return
	}
	var nb []byte
	if size == busyBuffer {
		nb = *busyPool.Get().(*[]byte)
	} else {
		nb = make([]byte, size)
	}
	copy(nb, rb.b[:keep])
	rb.release()
	rb.b, rb.pooled = nb, size == busyBuffer
}

// shrink goes back to the small buffer if the first keep bytes fit in it.
func (rb *readBuffer) shrink(keep int) {
	if len(rb.b) == len(rb.small) || keep > len(rb.small) {
		return
	}
	copy(rb.small, rb.b[:keep])
	rb.release()
	rb.b = rb.small
}

// release returns a borrowed buffer to the pool.
func (rb *readBuffer) release() {
	if rb.pooled {
		b := rb.b[:busyBuffer]
		busyPool.Put(&b)
		rb.pooled = false
	}
	rb.b = rb.small
}
