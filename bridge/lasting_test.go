//go:build unix

package bridge

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
	"github.com/wsbridge/wsbridge/wire"
)

// Lasting terminals (Pty.Linger), with real programs on real terminals.

// serveLasting serves a bash script on lasting terminals; the server's
// and the backend's log lines go to logs; more change the server before
// it starts.
func serveLasting(t *testing.T, script string, linger time.Duration, more ...func(*Server)) (base string, pty *Pty, logs *logBuffer) {
	t.Helper()
	logs = &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pty = &Pty{Program: Program{Command: "/bin/bash", Args: []string{"-c", script}, Log: log, Grace: 100 * time.Millisecond}, Linger: linger, Scrollback: 1 << 20}
	addr, _ := serve(t, func(s *Server) {
		s.Routes[0].Backend = pty
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
		s.Log = log
		for _, f := range more {
			f(s)
		}
	})
	return "ws://" + addr + "/", pty, logs
}

// termClient is one client of a terminal: what it has read, and the
// session message.
type termClient struct {
	t       *testing.T
	c       *websocket.Conn
	mu      sync.Mutex
	out     strings.Builder
	session wire.ServerMessage
	counts  []int // watchers messages
	// replayed are where in out each replayed message came
	replayed []int
	code     wire.CloseCode
	done     chan struct{}
}

// attach dials base with query and sends a size; the client reads in the
// background until the connection ends.
func attach(t *testing.T, base string, query url.Values) *termClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(base+"?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := &termClient{t: t, c: c, done: make(chan struct{})}
	t.Cleanup(func() { c.Close(); <-tc.done })
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	go tc.read()
	return tc
}

func (tc *termClient) read() {
	defer close(tc.done)
	for {
		mt, m, err := tc.c.ReadMessage()
		tc.mu.Lock()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				tc.code = wire.CloseCode(ce.Code)
			}
			tc.mu.Unlock()
			return
		}
		if mt == websocket.BinaryMessage {
			tc.out.Write(m)
		} else if msg, err := wire.ParseServerMessage(m); err == nil {
			switch msg.Type {
			case wire.TypeSession:
				tc.session = msg
			case wire.TypeWatchers:
				tc.counts = append(tc.counts, msg.Count)
			case wire.TypeReplayed:
				tc.replayed = append(tc.replayed, tc.out.Len())
			}
		}
		tc.mu.Unlock()
	}
}

// wait waits until cond holds of the client's state.
func (tc *termClient) wait(what string, cond func(tc *termClient) bool) {
	tc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		tc.mu.Lock()
		ok := cond(tc)
		tc.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.t.Fatalf("waiting for %s; output so far:\n%s", what, tc.out.String())
}

func (tc *termClient) waitOutput(want string) {
	tc.t.Helper()
	tc.wait("output "+want, func(tc *termClient) bool { return strings.Contains(tc.out.String(), want) })
}

// waitBulk waits for want at the end of bulk output, without wait's
// deadline: megabytes through a terminal take what the machine gives them
// (more than 15 s under -race at load 15), so only the connection's end
// fails it; a hang is go test's -timeout, with every goroutine's stack.
func (tc *termClient) waitBulk(want string) {
	tc.t.Helper()
	seen := 0 // looked through already, but for a want cut off at its end
	found := func() bool {
		out := tc.output()
		ok := strings.Contains(out[max(0, seen-len(want)):], want)
		seen = len(out)
		return ok
	}
	for !found() {
		select {
		case <-tc.done:
			if out := tc.output(); !found() {
				tc.t.Fatalf("the connection ended (close %d) before %q, after %d bytes ending %q", tc.code, want, len(out), out[max(0, len(out)-200):])
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (tc *termClient) output() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.out.String()
}

// leave closes the connection as a tab that is closed does, and waits.
func (tc *termClient) leave() {
	_ = tc.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	<-tc.done
	tc.c.Close()
}

func (tc *termClient) send(s string) {
	if err := tc.c.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
		tc.t.Fatal(err)
	}
}

// waitFile waits until a file the program writes contains want.
func waitFile(t *testing.T, file, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(file); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never had %q", file, want)
}

// TestLastingTerminalReattach: the client leaves, the program runs on
// (its output kept), and the client that comes back with the terminal's
// id gets the screen back after a reset, then the live program; a watcher
// sees the same and cannot type; both hear the program's exit.
func TestLastingTerminalReattach(t *testing.T) {
	dir := t.TempDir()
	pid, ticks := filepath.Join(dir, "pid"), filepath.Join(dir, "ticks")
	// A counter that also answers its input, and exits 3 at "quit". It asks
	// whether a line waits (read -t 0) and then reads it whole: a read with
	// a timeout that fires mid-line, as under load, drops the line's start.
	script := `echo $$ > ` + pid + `; i=0
while :; do i=$((i+1)); echo "tick $i"; echo $i > ` + ticks + `
  if read -t 0 && read line; then [ "$line" = quit ] && exit 3; echo "got $line"; fi; sleep 0.02; done`
	base, _, logs := serveLasting(t, script, time.Minute)
	a := attach(t, base, nil)
	a.waitOutput("tick 3")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	id, watch := a.session.ID, a.session.Watch
	if len(id) < 32 || len(watch) < 32 || id == watch {
		t.Fatalf("id %q, watch %q: want two 128-bit secrets", id, watch)
	}
	program := pidOf(t, pid)
	a.leave()

	// Nobody is attached: the program runs on.
	b, _ := os.ReadFile(ticks)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	later := strconv.Itoa(n + 20)
	waitFile(t, ticks, later+"\n")

	b2 := attach(t, base, url.Values{wire.SessionParam: {id}})
	b2.waitOutput("tick " + later + "\r\n")
	b2.wait("the session message", func(tc *termClient) bool { return tc.session.ID == id })
	if out := b2.output(); !strings.HasPrefix(out, "\x1bc") || !strings.Contains(out, "tick 1\r\n") {
		t.Fatalf("the reattached client did not get a reset and the earlier output first:\n%q", out[:min(len(out), 200)])
	}
	if p := pidOf(t, pid); p != program {
		t.Fatalf("a new program %d, want %d", p, program)
	}

	// A watcher: read-only, given only the watch token.
	w := attach(t, base, url.Values{wire.WatchParam: {watch}})
	w.waitOutput("tick 1\r\n")
	w.wait("the session message", func(tc *termClient) bool { return tc.session.Watch == watch })
	if w.session.ID != "" {
		t.Fatal("a watcher was given the terminal's id")
	}
	b2.wait("two watching", func(tc *termClient) bool { return len(tc.counts) > 0 && tc.counts[len(tc.counts)-1] == 2 })
	w.send("secret\r")
	b2.send("hello\r")
	b2.waitOutput("got hello")
	w.waitOutput("got hello")
	if strings.Contains(b2.output(), "secret") || strings.Contains(w.output(), "secret") {
		t.Fatal("the watcher's input reached the program")
	}

	// The program's exit reaches every client, with its status.
	b2.send("quit\r")
	for _, c := range []*termClient{b2, w} {
		c.wait("the close", func(tc *termClient) bool { return tc.code != 0 })
		if c.code != wire.ExitCode(3) {
			t.Errorf("closed with %d, want %d", c.code, wire.ExitCode(3))
		}
	}
	// Again, now that all the output is in: the program echoed nothing of it.
	if strings.Contains(b2.output(), "secret") || strings.Contains(w.output(), "secret") {
		t.Fatal("the watcher's input reached the program")
	}
	if !gone(program) {
		t.Fatal("the program is left")
	}
	// Its id names nothing now: a new terminal.
	c := attach(t, base, url.Values{wire.SessionParam: {id}})
	c.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	if c.session.ID == id {
		t.Fatal("an ended terminal's id was given again")
	}
	c.waitOutput("tick 1\r\n") // the new program has written its pid by then
	if p := pidOf(t, pid); p == program {
		t.Fatal("no new program")
	}
	// The log names the terminal, never its credentials.
	text := logs.String()
	if !strings.Contains(text, "reattached to a terminal") || !strings.Contains(text, "terminal="+label(id)) {
		t.Errorf("no reattach logged:\n%s", text)
	}
	if strings.Contains(text, id) || strings.Contains(text, watch) {
		t.Errorf("a credential in the log:\n%s", text)
	}
}

// TestLastingTerminalExpires: after the linger with nobody attached the
// program is stopped (the signal ladder), and its id then starts a new
// terminal; an unknown watch token is refused.
func TestLastingTerminalExpires(t *testing.T) {
	dir := t.TempDir()
	pid := filepath.Join(dir, "pid")
	base, pty, _ := serveLasting(t, `echo $$ >> `+pid+`; echo ready; exec sleep 600`, 300*time.Millisecond)
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	program := pidOf(t, pid)
	a.leave()
	if !gone(program) {
		t.Fatal("the program runs on after the linger")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(pty.lasting().all()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(pty.lasting().all()); n > 0 {
		t.Fatalf("%d terminals still registered", n)
	}
	_, resp, err := websocket.DefaultDialer.Dial(base+"?watch="+a.session.Watch, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an expired watch token: %v, want 404", err)
	}
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	b.waitOutput("ready")
	b.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	if b.session.ID == a.session.ID {
		t.Fatal("an expired id was given again")
	}
}

// TestLastingTerminalJoinsAndLeaves: 200 watchers join and leave; nothing
// is left of them (goroutines: goleak in TestMain; descriptors), and the
// shutdown stops the program nobody watches.
func TestLastingTerminalJoinsAndLeaves(t *testing.T) {
	dir := t.TempDir()
	pid := filepath.Join(dir, "pid")
	fdsBefore := openFDs(t)
	log := slog.New(slog.DiscardHandler)
	pty := &Pty{Program: Program{Command: "/bin/sh", Args: []string{"-c", `echo $$ > ` + pid + `; echo ready; exec sleep 600`}, Log: log, Grace: 100 * time.Millisecond}, Linger: time.Hour, Scrollback: 1 << 20}
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Backend = pty
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
	})
	base := "ws://" + addr + "/"
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	watch := a.session.Watch
	a.leave()
	for i := range 200 {
		c, _, err := websocket.DefaultDialer.Dial(base+"?watch="+watch, nil)
		if err != nil {
			t.Fatalf("watcher %d: %v", i, err)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`))
		for {
			mt, m, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("watcher %d: %v", i, err)
			}
			if mt == websocket.BinaryMessage && strings.Contains(string(m), "ready") {
				break
			}
		}
		if i%2 == 0 {
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			readUntilClose(c)
		}
		c.Close()
	}
	program := pidOf(t, pid)
	stop()
	if !gone(program) {
		t.Fatal("the shutdown left the lingering program")
	}
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > fdsBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFDs(t); n > fdsBefore {
		t.Errorf("%d descriptors open, %d before", n, fdsBefore)
	}
}

// TestLastingTerminalRecords: a lasting terminal is one recording, however
// many clients come, go and watch, with the output from before and after a
// reattach.
func TestLastingTerminalRecords(t *testing.T) {
	dir := t.TempDir()
	base, _, _ := serveLasting(t, `echo first; read a; echo "second $a"; read b; exit 0`, time.Minute, func(s *Server) {
		s.Routes[0].Backend.(*Pty).Record = dir
	})
	a := attach(t, base, nil)
	a.waitOutput("first")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	a.leave()
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	w := attach(t, base, url.Values{wire.WatchParam: {a.session.Watch}})
	b.waitOutput("first")
	w.waitOutput("first")
	b.send("x\r")
	w.waitOutput("second x")
	b.send("y\r")
	for _, c := range []*termClient{b, w} {
		c.wait("the close", func(tc *termClient) bool { return tc.code != 0 })
	}
	deadline := time.Now().Add(10 * time.Second)
	var casts []string
	for time.Now().Before(deadline) {
		casts, _ = filepath.Glob(filepath.Join(dir, "*.cast"))
		if len(casts) == 1 {
			if b, _ := os.ReadFile(casts[0]); strings.Contains(string(b), "second x") {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(casts) != 1 {
		t.Fatalf("recordings %v, want one", casts)
	}
	cast, _ := os.ReadFile(casts[0])
	for _, want := range []string{"first", "second x"} {
		if !strings.Contains(string(cast), want) {
			t.Errorf("the recording lacks %q:\n%s", want, cast)
		}
	}
}

// TestLastingTerminalsBounded: with MaxTerminals a lingering terminal
// counts: a new one beyond is refused with 429, a reattach is not.
func TestLastingTerminalsBounded(t *testing.T) {
	base, pty, _ := serveLasting(t, `echo ready; exec sleep 600`, time.Minute)
	pty.MaxTerminals = 1
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	a.leave()
	_, resp, err := websocket.DefaultDialer.Dial(base, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second terminal: %v, want 429", err)
	}
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	b.wait("the session message", func(tc *termClient) bool { return tc.session.ID == a.session.ID })
}

// TestLastingTerminalsRetiredByReload: a reload that drops the route stops
// its terminals nobody watches at once, and a watched one when its last
// client leaves.
func TestLastingTerminalsRetiredByReload(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	var srv *Server
	base, _, _ := serveLasting(t, `echo $$ > `+dir+`/$1; echo ready; exec sleep 600`, time.Hour, func(s *Server) {
		pty := s.Routes[0].Backend.(*Pty)
		pty.Args, pty.URLArgs = append(pty.Args, "sh"), true
		srv = s
	})
	left := attach(t, base, url.Values{"arg": {"left"}})
	left.waitOutput("ready")
	left.leave()
	stays := attach(t, base, url.Values{"arg": {"stays"}})
	stays.waitOutput("ready")
	leftPid, staysPid := pidOf(t, filepath.Join(dir, "left")), pidOf(t, filepath.Join(dir, "stays"))
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("cat", "/", log)}}); err != nil {
		t.Fatal(err)
	}
	if !gone(leftPid) {
		t.Fatal("the dropped route's lingering terminal runs on")
	}
	if syscall.Kill(staysPid, 0) != nil {
		t.Fatal("the dropped route's watched terminal was stopped")
	}
	stays.leave()
	if !gone(staysPid) {
		t.Fatal("the dropped route's terminal runs on after its last client")
	}
}

// lateWatcherGetsLive: with base's program's output so far kept (it says
// "ready", then answers a line with "done LINE"), a watcher joins and
// reads nothing while a writer types and gets its answer; the watcher then
// gets all of it, not dropped as too slow. Neither the output before
// "ready" nor the watcher's replay (megabytes) has a deadline: see waitBulk.
func lateWatcherGetsLive(t *testing.T, base string) {
	t.Helper()
	a := attach(t, base, nil)
	a.waitBulk("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.Watch != "" })
	// The watcher reads nothing yet: its queue holds the scrollback.
	w := slowDial(t, base+"?watch="+a.session.Watch)
	defer w.Close()
	if err := w.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	a.wait("two watching", func(tc *termClient) bool { return len(tc.counts) > 0 && tc.counts[len(tc.counts)-1] == 2 })
	a.send("x\r")
	a.waitOutput("done x")
	var got strings.Builder
	for !strings.Contains(got.String()[max(0, got.Len()-64<<10):], "done x") { // what came last: not megabytes again for each message
		mt, m, err := w.ReadMessage()
		if err != nil {
			t.Fatalf("the watcher: %v, after %d bytes", err, got.Len())
		}
		if mt == websocket.BinaryMessage {
			got.Write(m)
		}
	}
}

// TestLastingTerminalJoinerNotTooSlow: a client that joins with a full
// scrollback to read, beside a writer that keeps up, is not dropped as
// too slow for it.
func TestLastingTerminalJoinerNotTooSlow(t *testing.T) {
	base, _, _ := serveLasting(t, `head -c 1500000 /dev/zero | tr '\0' x; echo; echo ready; read a; echo "done $a"; exec sleep 600`, time.Minute, smallSendBuffers(t))
	lateWatcherGetsLive(t, base)
}

// TestLastingTerminalOneWriter: with OneWriter only the writer that
// attached last types; when it leaves, the one before types again.
func TestLastingTerminalOneWriter(t *testing.T) {
	base, pty, _ := serveLasting(t, `while read line; do echo "got $line"; done`, time.Minute)
	pty.OneWriter = true
	a := attach(t, base, nil)
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	a.send("one\r")
	a.waitOutput("got one")
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	b.wait("the session message", func(tc *termClient) bool { return tc.session.ID == a.session.ID })
	a.send("dropped\r")
	b.send("two\r")
	a.waitOutput("got two")
	b.leave()
	a.send("three\r")
	a.waitOutput("got three")
	if strings.Contains(a.output(), "dropped") {
		t.Fatalf("the writer that attached first typed while another had the keyboard:\n%s", a.output())
	}
}

// TestLastingTerminalJoinerOfShortLines: a scrollback of many short lines
// (each its own write) does not fill a joiner's queue at once: a watcher
// that has not read its replay yet is not dropped as too slow by the
// output that follows, and the replay is kept in few messages.
func TestLastingTerminalJoinerOfShortLines(t *testing.T) {
	base, pty, _ := serveLasting(t, `for ((i=0; i<400000; i++)); do echo "line $i"; done; echo ready; read a; echo "done $a"; exec sleep 600`, time.Minute, smallSendBuffers(t), func(s *Server) {
		s.Routes[0].Backend.(*Pty).Scrollback = 4 << 20 // some 15,000 reads of the terminal, unmerged
	})
	lateWatcherGetsLive(t, base)
	for _, lt := range pty.lasting().all() {
		lt.hub.mu.Lock()
		n, kept := len(lt.hub.replay), lt.hub.kept
		lt.hub.mu.Unlock()
		if n > 2*kept/replayMerge+1 {
			t.Errorf("the replay keeps %d messages for %d bytes", n, kept)
		}
	}
}

// TestLastingTerminalsKeptByReload: a reload that keeps the route (a new
// backend on the same path) keeps its terminals: the one nobody is
// attached to runs on and its id reattaches it; the server's list of
// lasting backends does not grow with reloads, and forgets a dropped
// route's once its terminals ended.
func TestLastingTerminalsKeptByReload(t *testing.T) {
	pid := filepath.Join(t.TempDir(), "pid")
	script := `echo $$ > ` + pid + `; echo ready; while read line; do echo "got $line"; done`
	var srv *Server
	base, pty, _ := serveLasting(t, script, time.Hour, func(s *Server) { srv = s })
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	program := pidOf(t, pid)
	a.leave()
	lasting := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.lasting)
	}
	log := slog.New(slog.DiscardHandler)
	for range 5 {
		next := &Pty{Program: pty.Program, Linger: time.Hour}
		routes := []*Route{
			{Backend: next, Framing: Terminal, Terminal: &web.Terminal{}, MaxMessage: 1 << 20},
			{Path: "/tcp", Backend: &Dial{Target: Target{Network: "tcp", Address: "127.0.0.1:1"}, Log: log}, MaxMessage: 1 << 10},
		}
		if _, err := srv.Reload(&Server{Routes: routes}); err != nil {
			t.Fatal(err)
		}
	}
	if syscall.Kill(program, 0) != nil {
		t.Fatal("a reload that kept the route stopped its lingering terminal")
	}
	if n := lasting(); n != 2 {
		t.Errorf("%d lasting backends after 5 reloads of 2 routes", n)
	}
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	b.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	if b.session.ID != a.session.ID {
		t.Fatal("the id started a new terminal after the reload")
	}
	b.send("hello\r")
	b.waitOutput("got hello")
	if p := pidOf(t, pid); p != program {
		t.Fatalf("a new program %d, want %d", p, program)
	}
	b.leave()
	// Dropped: its terminal stops, and the list forgets it.
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("cat", "/", log)}}); err != nil {
		t.Fatal(err)
	}
	if !gone(program) {
		t.Fatal("the dropped route's lingering terminal runs on")
	}
	deadline := time.Now().Add(10 * time.Second)
	for lasting() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := lasting(); n > 0 {
		t.Errorf("%d lasting backends after the reload that dropped them", n)
	}
}

// TestLastingTerminalWatchWhileStopping: a watch link refused because the
// server is stopping is told so (503), not that the terminal is unknown.
func TestLastingTerminalWatchWhileStopping(t *testing.T) {
	base, pty, _ := serveLasting(t, `echo ready; exec sleep 600`, time.Minute)
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.Watch != "" })
	hub := pty.lasting().all()[0].hub
	setEnded := func(v bool) { // what End does first, while the terminal is still listed
		hub.mu.Lock()
		hub.ended = v
		hub.mu.Unlock()
	}
	setEnded(true)
	_, resp, err := websocket.DefaultDialer.Dial(base+"?watch="+a.session.Watch, nil)
	setEnded(false)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a watch link while stopping: %v, want 503", err)
	}
}

// TestLastingTerminalReplayedNotice: a client that attaches hears where the
// replay ends (wire.Replayed), once: right away on a new terminal, after
// the reset and the kept output on a running one, before live output.
func TestLastingTerminalReplayedNotice(t *testing.T) {
	base, _, _ := serveLasting(t, `echo before; read line; echo "after $line"; exec sleep 600`, time.Minute)
	a := attach(t, base, nil)
	a.waitOutput("before")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.ID != "" })
	if len(a.replayed) != 1 || a.replayed[0] != 0 {
		t.Fatalf("a new terminal's client heard replayed at %v, want [0]", a.replayed)
	}
	a.leave()
	b := attach(t, base, url.Values{wire.SessionParam: {a.session.ID}})
	b.wait("the replay's end", func(tc *termClient) bool { return len(tc.replayed) > 0 })
	b.send("x\r")
	b.waitOutput("after x")
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.out.String()
	if len(b.replayed) != 1 {
		t.Fatalf("replayed at %v, want once", b.replayed)
	}
	history, live := out[:b.replayed[0]], out[b.replayed[0]:]
	if !strings.HasPrefix(history, "\x1bc") || !strings.Contains(history, "before") || strings.Contains(history, "after") {
		t.Errorf("before the replayed message: %q", history)
	}
	if !strings.Contains(live, "after x") || strings.Contains(live, "before") {
		t.Errorf("after the replayed message: %q", live)
	}
}

// TestLastingTerminalWatchGonePage: the page's terminal.json says when its
// watch link names no running terminal (the handshake's 404 is hidden from
// the page), and only then.
func TestLastingTerminalWatchGonePage(t *testing.T) {
	base, _, _ := serveLasting(t, `echo ready; exec sleep 600`, time.Minute)
	a := attach(t, base, nil)
	a.waitOutput("ready")
	a.wait("the session message", func(tc *termClient) bool { return tc.session.Watch != "" })
	settings := func(watch string) string {
		t.Helper()
		resp, err := http.Get("http" + strings.TrimPrefix(base, "ws") + "terminal.json?watch=" + watch)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := settings(a.session.Watch); strings.Contains(got, "gone") || !strings.Contains(got, `"options"`) {
		t.Errorf("a running terminal's watch link: %s", got)
	}
	if got := settings(strings.Repeat("0", 32)); strings.TrimSpace(got) != `{"gone":true}` {
		t.Errorf("a watch link naming no terminal: %s", got)
	}
}
