// Package asciicast writes terminal sessions in asciinema's asciicast v2
// format: a JSON header line (size, time, command), then one JSON array per
// event: [seconds since the start, "o", output] or [seconds, "r", "COLSxROWS"].
// `asciinema play FILE` replays it.
package asciicast

import (
	"encoding/json"
	"io"
	"strconv"
	"time"

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
}

// NewWriter writes the header, started at start, and returns the writer for
// the events.
func NewWriter(w io.Writer, h Header, start time.Time) (*Writer, error) {
	h.Version, h.Timestamp = 2, start.Unix()
	cw := &Writer{w: w, start: start}
	cw.line(h)
	return cw, cw.err
}

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
	secs := max(t.Sub(cw.start), 0).Seconds()
	cw.line([]any{json.Number(strconv.FormatFloat(secs, 'f', 6, 64)), kind, data})
}

func (cw *Writer) line(v any) {
	if cw.err != nil {
		return
	}
	enc := json.NewEncoder(cw.w) // ends the line with "\n"
	enc.SetEscapeHTML(false)
	cw.err = enc.Encode(v)
}
