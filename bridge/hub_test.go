//go:build unix

package bridge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
)

// The shared (broadcast) routes, with real programs: sh scripts.

// sharedHub is a hub for an sh script, line-framed, with the test's options.
func sharedHub(script string, configure func(*Shared)) *Shared {
	log := slog.New(slog.DiscardHandler)
	h := &Shared{
		Backend:    &Exec{Program: Program{Command: "/bin/sh", Args: []string{"-c", script}, Log: log, Grace: 100 * time.Millisecond}},
		Framing:    Line,
		MaxMessage: 1 << 20,
		Queue:      64 << 10,
		Log:        log,
	}
	if configure != nil {
		configure(h)
	}
	return h
}

// serveShared serves h on a free port until the test ends.
func serveShared(t *testing.T, h *Shared, configure ...func(*Server)) (url string, stop func()) {
	t.Helper()
	addr, stop := serve(t, func(s *Server) {
		s.Routes[0].Backend = h
		s.Routes[0].Framing = h.Framing
		for _, c := range configure {
			c(s)
		}
	})
	return "ws://" + addr + "/", stop
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readUntilClose reads every message until the close frame; it returns
// them and the close code (0: the connection failed otherwise).
func readUntilClose(c *websocket.Conn) ([]string, wire.CloseCode, string) {
	return readPaced(c, nil, nil)
}

// readPaced is readUntilClose that first takes a token from pace before
// each message (until pace is closed; nil: none), and calls read, if set,
// after each.
func readPaced(c *websocket.Conn, pace <-chan struct{}, read func(n int)) ([]string, wire.CloseCode, string) {
	var got []string
	for {
		if pace != nil {
			<-pace
		}
		_, m, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return got, wire.CloseCode(ce.Code), ce.Text
			}
			return got, 0, err.Error()
		}
		got = append(got, string(m))
		if read != nil {
			read(len(got))
		}
	}
}

// numbered prints "go" once its first input line comes, then n numbered
// lines of 2 KB, 50 a second (a tail -f; clients that fall behind it, as
// a thousand do on a loaded machine, make the hub wait), then exits with
// status.
func numbered(n, status int) string {
	return fmt.Sprintf(`read x; echo go; pad=$(head -c 2000 /dev/zero | tr '\0' .); i=0
while [ $i -lt %d ]; do i=$((i+1)); echo "$i $pad"; [ $((i %% 10)) = 0 ] && sleep 0.2; done; exit %d`, n, status)
}

// smallSendBuffers serves with fixed 16 KB send buffers, as a slow link
// has: the kernel's autotuning would otherwise hide megabytes of a slow
// client's lag in its socket, before the queue sees any.
func smallSendBuffers(t *testing.T) func(*Server) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return func(s *Server) {
		s.Listeners = []Listener{{Inherited: []net.Listener{sndbufListener{l.(*net.TCPListener)}}}}
	}
}

type sndbufListener struct{ *net.TCPListener }

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err == nil {
		_ = c.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// lineNumber reads a numbered line's number.
func lineNumber(t *testing.T, line string) int {
	n, err := strconv.Atoi(strings.Fields(line)[0])
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return n
}

// slowDial connects with a small receive buffer, so the client's reading
// pace, not the kernel's buffers, decides how much it takes.
func slowDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext, ReadBufferSize: 512}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSharedThousandClients: one program, 1,000 clients and one slow one
// that reads a message for every ten the first fast client reads. Every
// fast client gets every line in order and the program's exit; the slow
// one is dropped with 1008.
//
// The slow client is slow by count, not at a rate: a loaded machine slows
// the fast clients too (1 GB through one process), the hub then waits for
// them (every client is behind), and the program's 1 MB can take longer
// than any rate one picks takes to read it.
func TestSharedThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 clients")
	}
	if raceDetector {
		// The hub's concurrency is raced by the tests with fewer clients.
		t.Skip("1 MB to 1,000 clients takes minutes under the race detector")
	}
	const clients, lines = 1000, 500 // 1 MB each, in 10 s
	h := sharedHub(numbered(lines, 3), func(h *Shared) { h.Queue = 512 << 10 })
	url, _ := serveShared(t, h, smallSendBuffers(t))

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dialWS(t, url)
	}
	slow := slowDial(t, url)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap per client, both ends in this process: %d bytes", (int64(after.HeapInuse)-int64(before.HeapInuse))/clients)

	type result struct {
		got    []string
		code   wire.CloseCode
		reason string
	}
	results := make([]result, clients)
	// A token for every tenth message the first client reads (never more
	// than it holds); closed once the fast clients are done.
	pace := make(chan struct{}, lines/10+1)
	tenth := func(n int) {
		if n%10 == 0 {
			pace <- struct{}{}
		}
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			defer c.Close()
			var read func(int)
			if i == 0 {
				read = tenth
			}
			got, code, reason := readPaced(c, nil, read)
			results[i] = result{got, code, reason}
		})
	}
	slowDone := make(chan result, 1)
	go func() {
		defer slow.Close()
		got, code, reason := readPaced(slow, pace, nil)
		slowDone <- result{got, code, reason}
	}()
	if err := conns[0].WriteMessage(websocket.TextMessage, []byte("go")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(pace)
	for i, r := range results {
		if r.code != wire.ExitCode(3) || len(r.got) != lines+1 || r.got[0] != "go" {
			t.Fatalf("client %d: %d messages, close %d %q", i, len(r.got), r.code, r.reason)
		}
		for j, line := range r.got[1:] {
			if lineNumber(t, line) != j+1 {
				t.Fatalf("client %d: message %d is %q", i, j+1, line)
			}
		}
	}
	s := <-slowDone
	if s.code != wire.PolicyViolation || s.reason != "too slow" {
		t.Errorf("slow client: close %d %q after %d messages, want 1008 too slow", s.code, s.reason, len(s.got))
	}
}

// TestSharedSlowSkips: with SlowSkip the slow client skips ahead: the
// program ends while it is far behind (it never waited for it), and the
// client sees the gap in the numbers, then the program's exit. The slow
// client reads a message for every ten the fast one reads (slow by count,
// not at a rate a loaded machine's program could fall under), and the rest
// at once after the program's end.
func TestSharedSlowSkips(t *testing.T) {
	const lines = 400 // 800 KB, in 8 s
	h := sharedHub(numbered(lines, 0), func(h *Shared) { h.Slow = SlowSkip; h.Queue = 200 << 10 })
	url, _ := serveShared(t, h, smallSendBuffers(t))
	fast := dialWS(t, url)
	defer fast.Close()
	slow := slowDial(t, url)
	defer slow.Close()
	pace := make(chan struct{}, lines/10+1) // never more than the fast client holds
	var slowRead atomic.Int64
	type result struct {
		got    []string
		code   wire.CloseCode
		reason string // the close frame's, or what failed the connection
	}
	slowDone := make(chan result, 1)
	go func() {
		got, code, reason := readPaced(slow, pace, func(n int) { slowRead.Store(int64(n)) })
		slowDone <- result{got, code, reason}
	}()
	if err := fast.WriteMessage(websocket.TextMessage, []byte("go")); err != nil {
		t.Fatal(err)
	}
	got, code, _ := readPaced(fast, nil, func(n int) {
		if n%10 == 0 {
			pace <- struct{}{}
		}
	})
	behind := slowRead.Load()
	close(pace) // the program has ended: the slow client reads the rest at once
	if code != wire.NormalClosure || len(got) != lines+1 {
		t.Fatalf("fast client: %d messages, close %d", len(got), code)
	}
	// The program has exited: had it waited for the slow client, that
	// client would have all its lines by now.
	if behind >= lines {
		t.Fatalf("the slow client had all %d lines when the program ended", behind)
	}
	r := <-slowDone
	if r.code != wire.NormalClosure {
		t.Errorf("slow client closed with %d (%s)", r.code, r.reason)
	}
	slowGot := r.got
	prev, gap := 0, false
	for _, line := range slowGot[1:] {
		n := lineNumber(t, line)
		if n <= prev {
			t.Fatalf("slow client: %d after %d", n, prev)
		}
		gap = gap || n != prev+1
		prev = n
	}
	if !gap || prev != lines {
		t.Errorf("slow client: gap %v, last line %d of %d", gap, prev, lines)
	}
}

// TestSharedReplayAndInput: a late joiner gets the last Replay lines
// first; every client's input reaches the one program (a shared cat).
func TestSharedReplayAndInput(t *testing.T) {
	h := sharedHub("exec cat", func(h *Shared) { h.Replay = 2 })
	url, _ := serveShared(t, h)
	a := dialWS(t, url)
	defer a.Close()
	for _, m := range []string{"one", "two", "three"} {
		if err := a.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := a.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("echo of %q: %q, %v", m, got, err)
		}
	}
	b := dialWS(t, url)
	defer b.Close()
	if err := b.WriteMessage(websocket.TextMessage, []byte("four")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"two", "three", "four"} {
		if _, got, err := b.ReadMessage(); err != nil || string(got) != want {
			t.Fatalf("late joiner: %q, %v; want %q", got, err, want)
		}
	}
	if _, got, err := a.ReadMessage(); err != nil || string(got) != "four" {
		t.Fatalf("first client: %q, %v; want the second's input echoed", got, err)
	}
}

// TestSharedReplayIsNotQueued: a client that joins gets the replay first,
// however much more than Queue it is, and is not dropped as too slow for
// it while another keeps up: the replay does not count as its backlog.
// (The hub's own clients, without pumps: a pump would empty the queue into
// its socket's buffers at once.)
func TestSharedReplayIsNotQueued(t *testing.T) {
	h := sharedHub("exec cat", func(h *Shared) { h.Replay, h.ReplayBytes, h.Queue = 1000, 1<<20, 16<<10 })
	defer h.End()
	a, err := h.join(joining{})
	if err != nil {
		t.Fatal(err)
	}
	fromA := bufio.NewReader(a)
	say := func(m string) {
		t.Helper()
		if _, err := a.Write([]byte(m + "\n")); err != nil {
			t.Fatal(err)
		}
		if got, err := fromA.ReadString('\n'); err != nil || got != m+"\n" {
			t.Fatalf("echo of %.10q: %.10q, %v", m, got, err)
		}
	}
	var want []string
	for i := range 40 { // 40 KB: the replay, 2.5 Queues
		want = append(want, fmt.Sprintf("%d %s", i, strings.Repeat("x", 1000)))
		say(want[i])
	}
	b, err := h.join(joining{}) // reads nothing yet
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	say("after")
	say("again") // a full client is dropped at the next message
	fromB := bufio.NewReader(b)
	for _, w := range append(want, "after", "again") {
		if got, err := fromB.ReadString('\n'); err != nil || got != w+"\n" {
			t.Fatalf("joiner: %.10q, %v; want %.10q", got, err, w)
		}
	}
}

// TestSharedPace: with Pace, a lone client that does not read holds no
// more than Pace queued: the program waits (its output left in its pipe)
// and the hub reads no more of it than brings the client to Pace. Then
// every byte arrives.
func TestSharedPace(t *testing.T) {
	const size = 4_000_000 // more than a grown pipe and a Queue hold
	h := sharedHub(fmt.Sprintf("head -c %d /dev/zero", size), func(h *Shared) {
		h.Framing, h.MaxMessage, h.Queue, h.Pace = Binary, 32<<10, 256<<10, 16<<10
	})
	defer h.End()
	s, err := h.join(joining{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the program to wait for the client", hubWaitsForRoom)
	s.mu.Lock()
	live := s.live()
	s.mu.Unlock()
	if live > h.Pace+queueOverhead {
		t.Fatalf("%d bytes queued for a client that reads nothing, want at most Pace (%d) and a message's overhead", live, h.Pace)
	}
	got := 0
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got != size {
		t.Fatalf("read %d bytes, want %d", got, size)
	}
	if e := s.Wait(); e.Code != wire.ExitCode(0) {
		t.Fatalf("ended with %v, want the program's exit 0", e)
	}
}

// TestSharedPaceRiseWakesProgram: a client's pace follows its reading;
// when a read raises it past what the client has queued while the program
// waits, the program goes on (it waited for ever when only a read that
// brought the queue under the old pace woke it).
func TestSharedPaceRiseWakesProgram(t *testing.T) {
	h := sharedHub("head -c 4000000 /dev/zero", func(h *Shared) { h.Framing, h.MaxMessage, h.Queue, h.Pace = Binary, 32<<10, 1<<20, 16<<10 })
	defer h.End()
	s, err := h.join(joining{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitFor(t, "the program to wait", hubWaitsForRoom)
	s.mu.Lock()
	s.read, s.sampled = 1<<20, time.Now().Add(-paceSample) // it read fast of late
	s.mu.Unlock()
	if _, err := s.Read(make([]byte, 100)); err != nil { // part of a message: still a Pace behind
		t.Fatal(err)
	}
	s.mu.Lock()
	after, pace := s.live(), s.keepsUp()
	s.mu.Unlock()
	if after < h.Pace || pace <= after {
		t.Fatalf("after the read %d queued, pace %d: want at least Pace (%d) queued and under the pace", after, pace, h.Pace)
	}
	waitFor(t, "the program to go on", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.live() > after
	})
}

// hubWaitsForRoom says whether a hub's program waits for a client's room.
func hubWaitsForRoom() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), ").waitRoomLocked(")
}

// TestSharedReadOnly: with ReadOnly clients' messages never reach the
// program, which
// would echo them.
func TestSharedReadOnly(t *testing.T) {
	h := sharedHub(`echo ready; while read l; do echo "got $l"; done`, func(h *Shared) { h.ReadOnly = true; h.Replay = 1 })
	url, _ := serveShared(t, h)
	a := dialWS(t, url)
	defer a.Close()
	if _, got, err := a.ReadMessage(); err != nil || string(got) != "ready" {
		t.Fatalf("%q, %v", got, err)
	}
	if err := a.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	// A second client joins after: the last line it gets is still "ready",
	// so "hello" never came back.
	b := dialWS(t, url)
	defer b.Close()
	if err := b.WriteMessage(websocket.TextMessage, []byte("again")); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, got, err := a.ReadMessage(); err == nil {
		t.Fatalf("a read-only route echoed %q", got)
	}
	if _, got, err := b.ReadMessage(); err != nil || string(got) != "ready" {
		t.Fatalf("replay: %q, %v", got, err)
	}
}

// pidOf waits for the program to write its pid to file.
func pidOf(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			lines := strings.Fields(string(b))
			pid, _ := strconv.Atoi(lines[len(lines)-1])
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

// gone waits for a process to end; false after a generous deadline.
func gone(pid int) bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestSharedStartPolicies: StartAlways runs the program before any client
// and keeps it when they leave; StartFirst starts it with the first client
// and stops it after the last leaves and the linger.
func TestSharedStartPolicies(t *testing.T) {
	dir := t.TempDir()
	t.Run("always", func(t *testing.T) {
		pids := filepath.Join(dir, "always")
		h := sharedHub("echo $$ >> "+pids+"; exec cat", func(h *Shared) { h.Start = StartAlways })
		url, stop := serveShared(t, h)
		pid := pidOf(t, pids) // before any client
		c := dialWS(t, url)
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		readUntilClose(c)
		c.Close()
		c = dialWS(t, url) // the same program serves the next
		if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.ReadMessage(); err != nil || string(m) != "x" {
			t.Fatalf("%q, %v", m, err)
		}
		c.Close()
		if syscall.Kill(pid, 0) != nil || pidOf(t, pids) != pid {
			t.Fatal("the program did not keep running")
		}
		stop()
		if !gone(pid) {
			t.Fatal("the program outlived the server")
		}
	})
	t.Run("first", func(t *testing.T) {
		pids := filepath.Join(dir, "first")
		h := sharedHub("echo $$ >> "+pids+"; exec cat", func(h *Shared) { h.Linger = 200 * time.Millisecond })
		url, _ := serveShared(t, h)
		if _, err := os.Stat(pids); err == nil {
			t.Fatal("started before a client")
		}
		c := dialWS(t, url)
		pid := pidOf(t, pids)
		c2 := dialWS(t, url)
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		readUntilClose(c)
		c.Close()
		// One client left; the other still has it.
		if err := c2.WriteMessage(websocket.TextMessage, []byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c2.ReadMessage(); err != nil || string(m) != "y" {
			t.Fatalf("%q, %v", m, err)
		}
		_ = c2.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
		readUntilClose(c2)
		c2.Close()
		if !gone(pid) {
			t.Fatal("the program runs on after the last client and the linger")
		}
	})
}

// TestSharedRestart: a program that exits is started again after backoff,
// for the clients it had (RestartAlways); without restart every client is
// told its exit status.
func TestSharedRestart(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	// Each run says which it is, then exits 5 on its first input line.
	h := sharedHub(`echo run >> `+runs+`; echo "run $(wc -l < `+runs+`)"; read x; exit 5`, func(h *Shared) { h.Restart = RestartOnFailure; h.Replay = 1 })
	url, _ := serveShared(t, h)
	a, b := dialWS(t, url), dialWS(t, url)
	defer a.Close()
	defer b.Close()
	for _, want := range []string{"run 1", "run 2", "run 3"} {
		if _, m, err := a.ReadMessage(); err != nil || string(m) != want {
			t.Fatalf("a: %q, %v; want %q", m, err, want)
		}
		if want == "run 3" { // run 2 has been restarted
			h.mu.Lock()
			h.Restart = RestartNever
			h.mu.Unlock()
		}
		if _, m, err := b.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "run ") {
			t.Fatalf("b: %q, %v", m, err)
		}
		if err := b.WriteMessage(websocket.TextMessage, []byte("exit")); err != nil {
			t.Fatal(err)
		}
	}
	// Run 3 exits 5 and is not restarted: both clients hear 4005.
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b} {
		if _, code, reason := readUntilClose(c); code != wire.ExitCode(5) {
			t.Errorf("%s: close %d %q, want %d", name, code, reason, wire.ExitCode(5))
		}
	}
}

func TestBackoff(t *testing.T) {
	for fails, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if got := backoff(fails); got != want {
			t.Errorf("backoff(%d) = %v, want %v", fails, got, want)
		}
	}
	if got := backoff(1000); got != backoffMax {
		t.Errorf("backoff(1000) = %v", got)
	}
}

// TestSharedJoinsAndLeaves: 1,000 clients join and leave a StartFirst
// program, 20 at a time; then nothing is left: no process once the last
// left, and after shutdown no descriptor, no goroutine (goleak, in TestMain).
func TestSharedJoinsAndLeaves(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sessions")
	}
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	fdsBefore := openFDs(t)
	h := sharedHub("echo $$ >> "+pids+"; echo hello; exec cat", func(h *Shared) { h.Replay = 1 })
	url, stop := serveShared(t, h)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 20 {
		wg.Go(func() {
			for i := range 50 {
				c, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					errs <- err
					return
				}
				if _, m, err := c.ReadMessage(); err != nil || string(m) != "hello" {
					errs <- fmt.Errorf("client %d/%d: %q, %v", w, i, m, err)
				}
				if i%2 == 0 {
					_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
					readUntilClose(c)
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The last client left: the program is stopped, before any shutdown.
	b, _ := os.ReadFile(pids)
	for _, p := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(p)
		if !gone(pid) {
			t.Errorf("program %d is left", pid)
		}
	}
	stop()
	// Descriptors close as the runtime gets to them; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > fdsBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFDs(t); n > fdsBefore {
		t.Errorf("%d descriptors open, %d before", n, fdsBefore)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestSharedObserved: each client of a shared route is a session for the
// observers: opened, and ended with how it ended ("left"; the program's
// status for those it ended).
func TestSharedObserved(t *testing.T) {
	rec := newRecorder()
	h := sharedHub("read x; exit 2", nil)
	url, _ := serveShared(t, h, func(s *Server) { s.Observer = rec })
	a := dialWS(t, url)
	defer a.Close()
	if e, ok := rec.next(t).(SessionEvent); !ok {
		t.Fatalf("%#v, want opened", e)
	}
	b := dialWS(t, url)
	defer b.Close()
	rec.next(t) // b opened
	_ = b.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	readUntilClose(b)
	if e, ok := rec.next(t).(EndedEvent); !ok || e.Ending.Status != "left" || e.Kind != "exec" {
		t.Fatalf("%#v, want b ended, left", e)
	}
	_ = a.WriteMessage(websocket.TextMessage, []byte("bye"))
	if _, code, _ := readUntilClose(a); code != wire.ExitCode(2) {
		t.Fatalf("a: close %d", code)
	}
	if e, ok := rec.next(t).(EndedEvent); !ok || e.Ending.Status != "exit 2" {
		t.Fatalf("%#v, want a ended, exit 2", e)
	}
}

// TestMustWait: the program waits for room only when every client is
// slow: some are full and none keeps up; with SlowWait when any is full.
func TestMustWait(t *testing.T) {
	for _, tc := range []struct {
		p          SlowPolicy
		full       int
		oneKeepsUp bool
		want       bool
	}{
		{SlowDrop, 0, true, false},
		{SlowDrop, 0, false, false}, // none full: nothing to wait for
		{SlowDrop, 1, true, false},  // drop the full one
		{SlowDrop, 3, false, true},  // all behind: the program waits
		{SlowSkip, 1, true, false},
		{SlowSkip, 2, false, true},
		{SlowWait, 1, true, true},
		{SlowWait, 0, false, false},
	} {
		if got := mustWait(tc.p, tc.full, tc.oneKeepsUp); got != tc.want {
			t.Errorf("mustWait(%v, %d full, one keeps up %v) = %v", tc.p, tc.full, tc.oneKeepsUp, got)
		}
	}
}

// TestSharedKeepsUpWakes: a client whose reads take its queue under half
// wakes a deliver that waits for one that keeps up, however many whole
// messages a read takes (each counts queueOverhead more than its bytes).
func TestSharedKeepsUpWakes(t *testing.T) {
	const size = 100
	h := &Shared{Framing: Line, Queue: 8 * (size + queueOverhead), room: make(chan struct{}, 1)}
	fast, slow := bareSubscriber(h), bareSubscriber(h)
	h.subs = map[*subscriber]struct{}{fast: {}, slow: {}}
	msg := []byte(strings.Repeat("x", size-1) + "\n")
	for range 8 { // both full
		if !h.deliver(msg) {
			t.Fatal("deliver refused")
		}
	}
	woke := false
	buf := make([]byte, size) // one message a read
	for range 8 {
		h.mu.Lock()
		waits := h.mustWaitLocked()
		h.mu.Unlock()
		select {
		case <-h.room:
		default:
		}
		if n, err := fast.Read(buf); n != size || err != nil {
			t.Fatalf("read %d, %v", n, err)
		}
		h.mu.Lock()
		waits = waits && !h.mustWaitLocked()
		h.mu.Unlock()
		if waits {
			woke = true
			select {
			case <-h.room:
			default:
				t.Fatalf("the fast client keeps up (%d bytes queued of %d) and the hub was not woken", fast.bytes, h.Queue)
			}
		}
	}
	if !woke {
		t.Fatal("the hub never had to wait: the test proves nothing")
	}
}

// bareSubscriber is a subscriber of h, not yet in its set.
func bareSubscriber(h *Shared) *subscriber {
	s := &subscriber{hub: h, gone: make(chan struct{})}
	s.cond.L = &s.mu
	return s
}

// TestSharedRetiredByReload: a reload that drops a StartAlways route stops
// its program (no client has it); the route that replaces it starts its own.
func TestSharedRetiredByReload(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	h := sharedHub("echo $$ >> "+pids+"; exec cat", func(h *Shared) { h.Start = StartAlways })
	var srv *Server
	serveShared(t, h, func(s *Server) { srv = s })
	pid := pidOf(t, pids)
	log := slog.New(slog.DiscardHandler)
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("cat", "/", log)}}); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatal("the dropped route's program runs on")
	}
}
