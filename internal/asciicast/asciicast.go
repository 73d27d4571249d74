// Package asciicast writes terminal sessions in asciinema's asciicast v2
// format: a JSON header line (size, time, command), then one JSON array per
// event: [seconds since the start, "o", output] or [seconds, "r", "COLSxROWS"].
// `asciinema play FILE` replays it.
package asciicast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wsbridge/wsbridge/internal/utf8tail"
)

// Header is the first line of a recording.
type Header struct {
	Version   int               `json:"version"` // always 2
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"` // Unix seconds at the start
	Command   string            `json:"command,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Writer writes one recording, an event a write, so a recording is complete
// up to its last event whatever happens to wsbridge. Output may arrive cut
// anywhere, also inside a UTF-8 character: the cut character waits for the
// rest, since every event must be a JSON string. Bytes that are not UTF-8
// become U+FFFD.
type Writer struct {
	w       io.Writer
	start   time.Time
	pending []byte // the start of a character cut by the last Output
	err     error
	written int64 // bytes so far, the header's too
	max     int64 // 0: no limit
}

// ErrFull is the error of every write after the recording reached the
// limit set by Limit.
var ErrFull = errors.New("the recording reached its size limit")

// NewWriter writes the header, started at start, and returns the writer for
// the events.
func NewWriter(w io.Writer, h Header, start time.Time) (*Writer, error) {
	h.Version, h.Timestamp = 2, start.Unix()
	cw := &Writer{w: w, start: start}
	cw.line(h)
	return cw, cw.err
}

// Limit caps the recording at max bytes. An event that would take it
// beyond max is not written: a last output event says, on the replayed
// screen, that the recording stops there, and every later write returns
// ErrFull. So a recording ends within max and that one event.
func (cw *Writer) Limit(max int64) { cw.max = max }

// Output records terminal output that arrived at t.
func (cw *Writer) Output(t time.Time, b []byte) error {
	data := append(cw.pending, b...)
	keep := utf8tail.Partial(data)
	cw.pending = append(cw.pending[:0:0], data[len(data)-keep:]...)
	if len(data) > keep {
		cw.event(t, "o", string(data[:len(data)-keep]))
	}
	return cw.err
}

// Resize records a new terminal size.
func (cw *Writer) Resize(t time.Time, cols, rows int) error {
	cw.event(t, "r", strconv.Itoa(cols)+"x"+strconv.Itoa(rows))
	return cw.err
}

// Close records a character left unfinished.
func (cw *Writer) Close(t time.Time) error {
	if len(cw.pending) > 0 {
		cw.event(t, "o", string(cw.pending))
		cw.pending = nil
	}
	return cw.err
}

func (cw *Writer) event(t time.Time, kind, data string) {
	secs := json.Number(strconv.FormatFloat(max(t.Sub(cw.start), 0).Seconds(), 'f', 6, 64))
	line := encode([]any{secs, kind, data})
	if cw.max > 0 && cw.err == nil && cw.written+int64(len(line)) > cw.max {
		if kind == "o" {
			// As much of the output as fits, so the recording fills its cap
			// however the output was cut into events.
			if head := cw.fitting(secs, data); head != nil {
				cw.write(head)
			}
		}
		// Reset the style first, so the note reads plainly whatever came before.
		note := fmt.Sprintf("\x1b[0m\r\n[wsbridge: the recording stops here: it reached its limit of %d bytes; the session went on]\r\n", cw.max)
		cw.write(encode([]any{secs, "o", note}))
		if cw.err == nil {
			cw.err = ErrFull
		}
		return
	}
	cw.write(line)
}

// fitting is the output event of the longest start of data, cut between
// characters, that keeps the recording within its cap; nil if none does.
func (cw *Writer) fitting(secs json.Number, data string) []byte {
	room := cw.max - cw.written
	var best []byte
	lo, hi := 1, len(data)-1 // the whole of data did not fit
	for lo <= hi {
		k := (lo + hi) / 2
		for k > 0 && !utf8.RuneStart(data[k]) {
			k--
		}
		line := encode([]any{secs, "o", data[:k]})
		if k > 0 && int64(len(line)) <= room {
			best, lo = line, (lo+hi)/2+1
		} else {
			hi = (lo+hi)/2 - 1
		}
	}
	return best
}

func (cw *Writer) line(v any) { cw.write(encode(v)) }

func (cw *Writer) write(line []byte) {
	if cw.err != nil {
		return
	}
	var n int
	n, cw.err = cw.w.Write(line)
	cw.written += int64(n)
}

// encode is v as one line of JSON; "<" and "&" stay as they are.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // ends the line with "\n"
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings, numbers and the header: nothing that fails
	return b.Bytes()
}
