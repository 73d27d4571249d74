package bridge

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/wsbridge/wsbridge/internal/utf8tail"
	"github.com/wsbridge/wsbridge/process"
)

// StderrMode is what becomes of a program's standard error.
type StderrMode int

const (
	// StderrLog logs it a line at a time (the default).
	StderrLog StderrMode = iota
	// StderrPass hands it to wsbridge's own stderr as it is (websocketd
	// 0.4's --passstderr).
	StderrPass
	// StderrJSON sends it to the client beside stdout, every line of both
	// as a JSON message (websocketd 0.5's --passstderr); see jsonSession.
	StderrJSON
)

// ParseStderrMode reads a mode's name.
func ParseStderrMode(s string) (StderrMode, error) {
	switch s {
	case "log":
		return StderrLog, nil
	case "pass":
		return StderrPass, nil
	case "json":
		return StderrJSON, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want log, pass or json)", s)
}

func (m StderrMode) String() string { return [...]string{"log", "pass", "json"}[m] }

// MinJSONMessage is the smallest message limit StderrJSON works with: a
// message must hold the JSON around a line and some of the line.
const MinJSONMessage = 64

// jsonSession is a program whose stdout and stderr are merged into one
// output of JSON lines, {"stream":"stdout","data":"..."} and the same with
// "stderr", as websocketd 0.5 sends them; the Line framing makes each a
// message. Lines go out in the order they were read, as far as two pipes
// tell. Input is the program's, unchanged.
//
// Two goroutines produce the lines: readStdout, and the process's stderr
// reader through stderrLine. Read is the output pump's.
type jsonSession struct {
	Session    // the program's: input, Stop, Wait (not its Buffered)
	proc       *process.Process
	max        int           // the largest message, without its "\n"
	lines      chan []byte   // JSON lines with their "\n"; closed after both streams end
	done       chan struct{} // closed by Close: producers stop waiting
	stdoutDone chan struct{} // closed when readStdout has returned
	stderr     lineSplitter  // used by the process's stderr reader only
	next       []byte        // what Read has not returned yet of a line
	log        *slog.Logger
}

// newJSONSession prepares spec's stderr for the session that start makes.
func newJSONSession(spec *process.Spec, limit int, log *slog.Logger) *jsonSession {
	j := &jsonSession{
		max:        max(limit, MinJSONMessage), // 0 would send nothing
		lines:      make(chan []byte),
		done:       make(chan struct{}),
		stdoutDone: make(chan struct{}),
		log:        log,
	}
	j.stderr = lineSplitter{stream: "stderr", max: j.max}
	spec.StderrPieces = true
	spec.StderrLine = j.stderrLine
	return j
}

// start begins reading the started program's stdout.
func (j *jsonSession) start(p *process.Process) Session {
	j.Session, j.proc = processSession{p}, p
	go j.readStdout()
	return j
}

// readStdout turns stdout into lines. At its end the session's output ends
// once stderr's has, as the output of a program without this session
// would: the program is stopped (a program that closed stdout but runs on
// gets the ladder), and stderr is read to its end.
func (j *jsonSession) readStdout() {
	defer close(j.stdoutDone)
	p := j.proc
	out := lineSplitter{stream: "stdout", max: j.max}
	for ok := true; ok; {
		_ = p.WaitRead() // hold no buffer while idle; an error is Read's
		buf := take(idleBuffer)
		n, err := p.Read(buf)
		ok = out.add(buf[:n], err != nil, j.send) && err == nil
		giveBack(buf)
	}
	p.Stop()
	<-p.StderrDone()
	close(j.lines)
}

// stderrLine takes a line, or a piece of one (more: the rest follows),
// from the process's stderr reader. It is logged too, as websocketd does.
func (j *jsonSession) stderrLine(s string, more bool) {
	j.log.Error("stderr", "line", s, "truncated", more)
	if j.stderr.add([]byte(s), false, j.send) && !more {
		j.stderr.add([]byte{'\n'}, false, j.send)
	}
}

// send hands one JSON line to Read; false: the session is closing.
func (j *jsonSession) send(line []byte) bool {
	select {
	case j.lines <- line:
		return true
	case <-j.done:
		return false
	}
}

func (j *jsonSession) Read(b []byte) (int, error) {
	if err := j.WaitRead(); err != nil {
		return 0, err
	}
	n := copy(b, j.next)
	j.next = j.next[n:]
	return n, nil
}

// WaitRead waits for the next line; the output pump then needs no buffer
// while the program is quiet.
func (j *jsonSession) WaitRead() error {
	if len(j.next) > 0 {
		return nil
	}
	line, ok := <-j.lines
	if !ok {
		return io.EOF
	}
	j.next = line
	return nil
}

func (j *jsonSession) Close() error {
	close(j.done)
	err := j.Session.Close()
	<-j.stdoutDone
	return err
}

// lineSplitter cuts one stream into JSON lines: at each "\n", and a line
// too long for a message into pieces between characters, as the Line
// framing cuts output.
type lineSplitter struct {
	stream string
	max    int
	rest   []byte // an unfinished line
}

// add takes more of the stream (at eof, the last of it) and sends each
// finished line; false: send refused one.
func (ls *lineSplitter) add(data []byte, eof bool, send func([]byte) bool) bool {
	if len(ls.rest) > 0 {
		ls.rest = append(ls.rest, data...)
		data = ls.rest
	}
	for {
		adv, line, _ := Line.Split(data, ls.max, eof)
		if adv == 0 {
			break
		}
		if !ls.sendLine(line, send) {
			return false
		}
		data = data[adv:]
	}
	if len(data) == 0 {
		ls.rest = nil // hold nothing between lines
	} else {
		ls.rest = append(ls.rest[:0], data...) // data may be in rest: a memmove
	}
	return true
}

// sendLine sends line as JSON, in pieces where its JSON is longer than max
// (escapes make it up to six times the line).
func (ls *lineSplitter) sendLine(line []byte, send func([]byte) bool) bool {
	for first := true; first || len(line) > 0; first = false {
		n := len(line)
		msg := jsonLine(ls.stream, line)
		for len(msg) > ls.max && n > 1 {
			n = max(1, n*ls.max/len(msg)-utf8.UTFMax)
			if k := n - utf8tail.Partial(line[:n]); k > 0 {
				n = k
			}
			msg = jsonLine(ls.stream, line[:n])
		}
		if !send(append(msg, '\n')) {
			return false
		}
		line = line[n:]
	}
	return true
}

// jsonLine is websocketd's message: encoding/json's escapes, invalid UTF-8
// as U+FFFD.
func jsonLine(stream string, data []byte) []byte {
	msg, _ := json.Marshal(struct {
		Stream string `json:"stream"`
		Data   string `json:"data"`
	}{stream, string(data)})
	return msg
}
