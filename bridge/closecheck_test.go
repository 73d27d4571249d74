package bridge

import (
	"bytes"
	"testing"
)

// frame builds a masked client frame (mask 0: the payload reads as sent).
func frame(opcode byte, payload []byte) []byte {
	f := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(append(f, 0, 0, 0, 0), payload...)
}

// TestFrameScan feeds streams in pieces of every size: a close frame with a
// 1-byte payload is found where it starts, whatever comes before it, and
// nothing else is taken for one.
func TestFrameScan(t *testing.T) {
	var before []byte
	for _, f := range [][]byte{
		frame(0x1, []byte("hello")),
		frame(0x9, []byte{0x08, 0x01}), // a ping whose payload looks like a bad close
		frame(0x2, bytes.Repeat([]byte{0x88, 0x81}, 100)),
		frame(0x2, make([]byte, 70000)),
		frame(0x0, nil),
	} {
		before = append(before, f...)
	}
	good := [][]byte{frame(0x8, nil), frame(0x8, []byte{0x03, 0xe8}), frame(0x8, []byte{0x03, 0xe8, 'o', 'k'})}
	for _, end := range good {
		stream := append(append([]byte(nil), before...), end...)
		for size := 1; size <= 97; size += 8 {
			var f frameScan
			for off := 0; off < len(stream); off += size {
				if at := f.scan(stream[off:min(off+size, len(stream))]); at >= 0 {
					t.Fatalf("a good stream ending in %x: found a bad close at %d", end, off+at)
				}
			}
		}
	}
	stream := append(append([]byte(nil), before...), frame(0x8, []byte{0x03})...)
	start := len(before)
	for size := 1; size <= len(stream); size += 1 + size/4 {
		var f frameScan
		found := false
		for off := 0; off < len(stream) && !found; off += size {
			at := f.scan(stream[off:min(off+size, len(stream))])
			found = at >= 0
			// Found in the piece with the header's second byte: at its
			// start, or at the start of the piece if it began before.
			if last := off+size > start+1; found != last || found && at != max(start-off, 0) {
				t.Fatalf("pieces of %d: at %d in the piece at %d; the frame starts at %d", size, at, off, start)
			}
		}
		if f.scan([]byte{0x81}) != 0 {
			t.Fatalf("pieces of %d: found once, then forgotten", size)
		}
	}
}
