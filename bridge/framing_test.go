package bridge

import (
	"bytes"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

type message struct {
	data   string
	binary bool
}

// splitAll feeds data to f in chunks of the given size, as reads would, and
// collects every message, flushing at EOF.
func splitAll(t testing.TB, f Framing, data []byte, chunk, max int) []message {
	var out []message
	var buf []byte
	for fed := 0; ; {
		end := min(len(data), fed+chunk)
		buf = append(buf, data[fed:end]...)
		fed = end
		atEOF := fed == len(data)
		for {
			adv, msg, bin := f.Split(buf, max, atEOF)
			if adv == 0 {
				break
			}
			if len(msg) > max {
				t.Fatalf("%v: message of %d bytes exceeds max %d", f, len(msg), max)
			}
			if !bin && !utf8.Valid(msg) {
				t.Fatalf("%v: invalid UTF-8 %q in a text message", f, msg)
			}
			if f == Binary && !bin {
				t.Fatalf("binary framing sent a text message")
			}
			out = append(out, message{string(msg), bin})
			buf = buf[adv:]
		}
		if atEOF {
			if len(buf) != 0 {
				t.Fatalf("%v: %d bytes left unsent at EOF", f, len(buf))
			}
			return out
		}
	}
}

func TestLineFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []message
	}{
		{"lines", "a\nbc\n", 100, []message{{"a", false}, {"bc", false}}},
		{"crlf", "a\r\nb\r\n", 100, []message{{"a", false}, {"b", false}}},
		{"empty line", "\n\n", 100, []message{{"", false}, {"", false}}},
		{"last line without newline", "a\nend", 100, []message{{"a", false}, {"end", false}}},
		{"long line in pieces", "abcdefg\n", 3, []message{{"abc", false}, {"def", false}, {"g", false}}},
		{"exactly max", "abc\nd\n", 3, []message{{"abc", false}, {"d", false}}},
		{"pieces cut between characters", "ééé\n", 3, []message{{"é", false}, {"é", false}, {"é", false}}},
		{"invalid UTF-8 goes binary", "ok\n\xff\xfe\n", 100, []message{{"ok", false}, {"\xff\xfe", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for chunk := 1; chunk <= len(tc.in); chunk++ {
				got := splitAll(t, Line, []byte(tc.in), chunk, tc.max)
				if !equalMessages(got, tc.want) {
					t.Fatalf("chunk %d: got %v, want %v", chunk, got, tc.want)
				}
			}
		})
	}
}

func TestRawFramingKeepsCharactersWhole(t *testing.T) {
	in := "héllo wörld ✓"
	for chunk := 1; chunk <= len(in); chunk++ {
		got := splitAll(t, Raw, []byte(in), chunk, 1024)
		var joined string
		for _, m := range got {
			if m.binary {
				t.Fatalf("chunk %d: valid text sent as binary: %v", chunk, got)
			}
			joined += m.data
		}
		if joined != in {
			t.Fatalf("chunk %d: %q", chunk, joined)
		}
	}
	// A truncated character at EOF is still delivered, as binary.
	got := splitAll(t, Raw, []byte("a\xe2\x9c"), 10, 1024)
	if len(got) != 1 || got[0] != (message{"a\xe2\x9c", true}) {
		t.Fatalf("truncated tail: %v", got)
	}
}

func TestBinaryFraming(t *testing.T) {
	got := splitAll(t, Binary, []byte("a\nb\xff"), 10, 2)
	want := []message{{"a\n", true}, {"b\xff", true}}
	if !equalMessages(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestInput(t *testing.T) {
	if got := Line.Input([]byte("hi")); string(got) != "hi\n" {
		t.Errorf("line %q", got)
	}
	if got := Raw.Input([]byte("hi")); string(got) != "hi" {
		t.Errorf("raw %q", got)
	}
	if got := Binary.Input([]byte("x\x00")); string(got) != "x\x00" {
		t.Errorf("binary %q", got)
	}
}

func TestParseFraming(t *testing.T) {
	for _, f := range []Framing{Line, Raw, Binary} {
		if got, err := ParseFraming(f.String()); err != nil || got != f {
			t.Errorf("%v: %v %v", f, got, err)
		}
	}
	if _, err := ParseFraming("lines"); err == nil {
		t.Error("accepted an unknown framing")
	}
}

func equalMessages(a, b []message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzFraming checks, for any output and any read sizes, that nothing is lost
// or invented: raw and binary messages join back to the output exactly; line
// messages join back to it with the line ends removed.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), uint8(3), uint8(5))
	f.Add([]byte("a\r\n\xff\xfe\xe2\x9c\x93"), uint8(1), uint8(2))
	f.Add([]byte("ééééé"), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk, max uint8) {
		c, m := int(chunk)%64+1, int(max)%64+1
		for _, fr := range []Framing{Raw, Binary, Terminal} {
			var joined []byte
			for _, msg := range splitAll(t, fr, data, c, m) {
				joined = append(joined, msg.data...)
			}
			if !bytes.Equal(joined, data) {
				t.Fatalf("%v: %q became %q", fr, data, joined)
			}
		}
		var joined []byte
		for _, msg := range splitAll(t, Line, data, c, m) {
			if bytes.IndexByte([]byte(msg.data), '\n') >= 0 {
				t.Fatalf("line message holds a newline: %q", msg.data)
			}
			joined = append(joined, msg.data...)
		}
		// A "\r" before "\n" is part of the line end; any other "\r" is data.
		want := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n"), nil)
		if !bytes.Equal(joined, want) {
			t.Fatalf("line: %q became %q", data, joined)
		}
	})
}

// BenchmarkSplit measures the codec alone on 1 MiB of 80-byte lines.
func BenchmarkSplit(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 79), '\n')
	data := bytes.Repeat(line, (1<<20)/len(line))
	for _, f := range []Framing{Line, Raw, Binary} {
		b.Run(f.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for rest := data; len(rest) > 0; {
					adv, _, _ := f.Split(rest, 32<<10, true)
					rest = rest[adv:]
				}
			}
		})
	}
}

// readMessage starts in a small pooled buffer, moves to a busy one when it
// fills and grows beyond only for a longer message: one of exactly a
// buffer's size keeps it, so the buffer goes back to its pool.
func TestReadMessageBuffers(t *testing.T) {
	for _, tc := range []struct{ size, capacity int }{
		{0, idleBuffer}, {1, idleBuffer}, {idleBuffer, idleBuffer}, {idleBuffer + 1, busyBuffer},
		{busyBuffer, busyBuffer}, {busyBuffer + 1, 2 * busyBuffer}, {1 << 20, 1 << 20},
	} {
		want := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
		got, err := readMessage(take(idleBuffer)[:0], iotest.HalfReader(bytes.NewReader(want)), len(want))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes, %v", tc.size, len(got), err)
		}
		if cap(got) != tc.capacity {
			t.Errorf("%d bytes: in a buffer of %d, want %d", tc.size, cap(got), tc.capacity)
		}
		giveBack(got)
	}
}
