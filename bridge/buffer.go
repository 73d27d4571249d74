package bridge

import "sync"

// readBuffer is the output pump's buffer. While the session waits for
// output it holds none; output is read into a small buffer; when reads fill
// it (fast output) it becomes a busyBuffer; when output slows down it goes
// back to small, and to none. Buffers come from pools shared by all
// sessions, so only busy sessions hold large ones and idle ones hold
// nothing. Larger frames are what make a bulk transfer fast: per-frame costs
// dominate at 64 KiB.
type readBuffer struct {
	b     []byte // nil while idle
	small int    // the small size: idleBuffer, or less under a low message limit
}

// idlePool and busyPool serve the output pump's readBuffers and the input
// pump's messages (readMessage), by size. They hold pointers to arrays: a
// slice from take converts back to one without allocating (a pool of
// *[]byte would box a new header on every giveBack).
var (
	idlePool = sync.Pool{New: func() any { return new([idleBuffer]byte) }}
	busyPool = sync.Pool{New: func() any { return new([busyBuffer]byte) }}
)

func newReadBuffer(small int) *readBuffer { return &readBuffer{small: small} }

// ensure gives an idle buffer its small size.
func (rb *readBuffer) ensure() {
	if rb.b == nil {
		rb.b = take(rb.small)
	}
}

// grow makes the buffer size bytes long, keeping its first keep bytes.
func (rb *readBuffer) grow(keep, size int) {
	if size <= len(rb.b) {
		return
	}
	nb := take(size)
	copy(nb, rb.b[:keep])
	rb.release()
	rb.b = nb
}

// shrink goes back to the small size if the first keep bytes fit in it.
func (rb *readBuffer) shrink(keep int) {
	if len(rb.b) <= rb.small || keep > rb.small {
		return
	}
	nb := take(rb.small)
	copy(nb, rb.b[:keep])
	rb.release()
	rb.b = nb
}

// release gives the buffer back; the session holds none until ensure.
func (rb *readBuffer) release() {
	giveBack(rb.b)
	rb.b = nil
}

// giveBack returns a buffer from take to its pool, if it has one.
func giveBack(b []byte) {
	switch cap(b) {
	case idleBuffer:
		idlePool.Put((*[idleBuffer]byte)(b[:idleBuffer]))
	case busyBuffer:
		busyPool.Put((*[busyBuffer]byte)(b[:busyBuffer]))
	}
}

// take is a buffer of size bytes, pooled when it is of a pooled size.
func take(size int) []byte {
	switch size {
	case idleBuffer:
		return idlePool.Get().(*[idleBuffer]byte)[:]
	case busyBuffer:
		return busyPool.Get().(*[busyBuffer]byte)[:]
	}
	return make([]byte, size)
}
