package asciicast

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Unix(1764000000, 0)
	w, err := NewWriter(&out, Header{Width: 80, Height: 24, Command: "bash -l", Env: map[string]string{"TERM": "xterm-256color"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	w.Output(t0.Add(10*time.Millisecond), []byte("<h\xc3"))          // "é" cut after its first byte
	w.Output(t0.Add(20*time.Millisecond), []byte("\xa9llo\r\n\xff")) // the rest, and a byte that is not UTF-8
	w.Resize(t0.Add(1500*time.Millisecond), 100, 30)
	w.Output(t0.Add(2*time.Second), []byte("\xe2\x9c")) // "✓" cut, never finished: a U+FFFD a byte
	if err := w.Close(t0.Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"width":80,"height":24,"timestamp":1764000000,"command":"bash -l","env":{"TERM":"xterm-256color"}}
[0.010000,"o","<h"]
[0.020000,"o","éllo\r\n\ufffd"]
[1.500000,"r","100x30"]
[3.000000,"o","\ufffd\ufffd"]
`
	if got := out.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteErrorsStick(t *testing.T) {
	w, err := NewWriter(failingWriter{}, Header{Width: 1, Height: 1}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("header write: %v", err)
	}
	if err := w.Output(time.Now(), []byte("x")); err == nil {
		t.Fatal("an output after a failed write succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestLimit: the event that would go past the limit is replaced by a note
// on the screen, and nothing is written after it.
func TestLimit(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Unix(1764000000, 0)
	w, _ := NewWriter(&out, Header{Width: 80, Height: 24}, t0)
	header := out.Len()
	w.Limit(int64(header) + 40)
	if err := w.Output(t0, []byte("0123456789")); err != nil { // [0.000000,"o","0123456789"]\n: 29 bytes
		t.Fatal(err)
	}
	if err := w.Output(t0.Add(time.Second), []byte("0123456789")); !errors.Is(err, ErrFull) {
		t.Fatalf("the write past the limit: %v", err)
	}
	if err := w.Resize(t0.Add(2*time.Second), 100, 30); !errors.Is(err, ErrFull) {
		t.Fatalf("a write after the limit: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String()[header:], "\n"), "\n")
	want := []string{
		`[0.000000,"o","0123456789"]`,
		`[1.000000,"o","\u001b[0m\r\n[wsbridge: the recording stops here: it reached its limit of ` + strconv.Itoa(header+40) + ` bytes; the session went on]\r\n"]`,
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestLimitFillsTheCap: of an event that does not fit, the start that fits
// is recorded, cut between characters, before the note.
func TestLimitFillsTheCap(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Unix(1764000000, 0)
	w, _ := NewWriter(&out, Header{Width: 80, Height: 24}, t0)
	header := out.Len()
	w.Limit(int64(header) + 60)
	w.Output(t0, []byte("0123456789")) // 28 bytes with its newline: 32 left
	if err := w.Output(t0.Add(time.Second), []byte(strings.Repeat("é", 40))); !errors.Is(err, ErrFull) {
		t.Fatalf("the write past the limit: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String()[header:], "\n"), "\n")
	want := []string{
		`[0.000000,"o","0123456789"]`,
		`[1.000000,"o","ééééééé"]`, // 32 bytes with its newline; an eighth é would take 34
		`[1.000000,"o","\u001b[0m\r\n[wsbridge: the recording stops here: it reached its limit of ` + strconv.Itoa(header+60) + ` bytes; the session went on]\r\n"]`,
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
