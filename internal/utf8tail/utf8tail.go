// Package utf8tail finds a UTF-8 character cut off at the end of a buffer, so
// that whoever cuts a byte stream into strings can hold it for the next read.
package utf8tail

import "unicode/utf8"

// Partial is the length of an incomplete but so far valid UTF-8 sequence at
// the end of b: bytes that a later read may complete.
func Partial(b []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < utf8.RuneSelf {
			return 0 // ASCII: nothing pending
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return k
			}
			return 0
		}
	}
	return 0
}
