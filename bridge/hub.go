package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/wire"
)

// Shared is a hub backend: one session of Backend (a program) serves every
// WebSocket of the route. Its output, cut into messages by the route's
// framing, goes to every client; each client's input goes to its input
// (unless ReadOnly). Open returns a subscriber, a Session of its own for the
// pump, with its own bounded queue: the program never waits on one slow
// reader, only on all of them (or on any, with SlowWait).
//
// Nothing here knows what the backend runs: a terminal's session could be
// shared the same way.
type Shared struct {
	Backend    Backend // opens the program, with a request that names no client
	Framing    Framing // the route's: the hub cuts output into its messages
	MaxMessage int     // the route's
	Start      StartPolicy
	// Linger keeps the program (StartFirst) running this long after the
	// last client left; then the signal ladder stops it.
	Linger  time.Duration
	Restart RestartPolicy
	Replay  int // the last messages a client that joins gets first
	// ReplayBytes also bounds what Replay keeps, in bytes; 0: no bound.
	ReplayBytes int
	// Queue bounds each client's queue: the bytes of its messages, each
	// counted queueOverhead more (so many tiny messages are bounded too).
	// The replay a client gets first does not count: a joiner is never
	// full with it.
	Queue int
	// Pace, if set, makes the program wait while every client has Pace
	// bytes queued (the replay aside), or what it read in the last
	// paceSample if more (up to half the Queue), as a terminal's own flow
	// control makes it wait: a lone client's backlog stays that small, and
	// output stops soon after a Ctrl-C on a slow link, while a fast client
	// still has output read ahead. Without it the program waits only once
	// the clients are full. With SlowWait it changes nothing.
	Pace     int
	Slow     SlowPolicy
	ReadOnly bool // clients' messages are dropped
	// Writers, if any, are the only users (userOf: the auth's name, or a
	// client certificate's cn=NAME) whose messages reach the program.
	Writers []string
	// Once runs the program once (a lasting terminal): never restarted,
	// and nobody joins once it is stopping.
	Once bool
	// Watchers tells each client how many clients watch (a notice).
	Watchers bool
	// OneWriter lets only the client that joined last (and is not
	// read-only) write; the others' messages are dropped until it leaves.
	OneWriter bool
	// RunEnded, if set, is called when a run of the program ends for good,
	// after its clients were told; without the hub's lock.
	RunEnded func()
	Log      *slog.Logger

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	nfull   int           // subscribers whose queue has no room
	writers []*subscriber // with OneWriter, in the order they joined
	replay  [][]byte      // what Replay keeps, oldest first
	kept    int           // its bytes
	run     *sharedRun    // the program's run, nil while none
	ran     bool          // a run has started (Once)
	linger  *time.Timer
	ended   bool          // End was called
	endc    chan struct{} // closed by End: a restart's backoff ends (endedCh)
	endOnce sync.Once
	room    chan struct{} // a subscriber got room back, or left (cap 1)
	// retiredDone is Retire's done, called when the run ends for good.
	retiredDone func()
}

// StartPolicy is when a Shared program starts.
type StartPolicy int

const (
	StartFirst  StartPolicy = iota // with the first client, stopped after the last (and Linger)
	StartAlways                    // with the server, and kept running
)

// RestartPolicy is whether a Shared program that exits is started again
// (after backoff) for the clients it had.
type RestartPolicy int

const (
	RestartNever RestartPolicy = iota
	RestartOnFailure
	RestartAlways
)

// SlowPolicy is what happens to a client whose queue is full.
type SlowPolicy int

const (
	SlowDrop SlowPolicy = iota // it is closed with 1008 "too slow"
	SlowSkip                   // its queue is emptied: it skips to the live stream
	SlowWait                   // the program waits for it (lossless)
)

// queueOverhead is what each queued message counts besides its bytes.
const queueOverhead = 64

// replayMerge is the size up to which a terminal's replay merges messages.
const replayMerge = 4 << 10

// Kind is the shared backend's kind (see BackendKind).
func (h *Shared) Kind() string { return BackendKind(h.Backend) }

func (h *Shared) String() string { return "shared " + stringOf(h.Backend) }

func stringOf(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return "backend"
}

// sharedRun is one run of the program, and the goroutines that serve it.
type sharedRun struct {
	sess     Session
	input    chan []byte   // clients' messages, for the input writer
	done     chan struct{} // closed when the run (with its restarts) is over
	stopping bool          // stopped on purpose (linger, End): no restart
}

// Begin starts a StartAlways program with the server. A program that
// cannot start is logged and left to the restart policy or the next client.
func (h *Shared) Begin() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Start != StartAlways || h.run != nil {
		return
	}
	if err := h.startLocked(); err != nil {
		h.Log.Error("cannot start the shared program", "err", err)
	}
}

// End stops the program for good, after the server's sessions have ended.
func (h *Shared) End() {
	h.mu.Lock()
	if !h.ended {
		h.ended = true
		close(h.endedCh())
	}
	r := h.run
	if r != nil {
		r.stopping = true
		r.sess.Stop()
	}
	h.stopLingerLocked()
	h.signalRoom()
	h.mu.Unlock()
	if r != nil {
		<-r.done
	}
}

// Open subscribes a client, starting the program if none runs: a program
// that cannot start is the request's error, before the upgrade.
func (h *Shared) Open(r *http.Request) (Session, error) {
	return h.join(joining{readOnly: len(h.Writers) > 0 && !slices.Contains(h.Writers, userOf(r))})
}

// joining is how a client joins: read-only (its messages dropped, its size
// ignored), a notice it gets first, bytes before the replay (if any), and
// whether it hears where the replay ends.
type joining struct {
	readOnly bool
	hello    []byte
	preface  []byte
	replayed bool // a wire.Replayed notice follows the replay
}

// errRunOver is a Once hub's answer once its program has ended or is
// stopping.
var errRunOver = &HTTPError{Status: http.StatusNotFound, Message: "the program has ended"}

func (h *Shared) join(j joining) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return nil, busyError("shutting down")
	}
	if h.Once && (h.ran && h.run == nil || h.run != nil && h.run.stopping) {
		return nil, errRunOver
	}
	if h.run == nil {
		if err := h.startLocked(); err != nil {
			return nil, err
		}
	}
	h.stopLingerLocked()
	s := &subscriber{hub: h, gone: make(chan struct{}), readOnly: j.readOnly, hello: j.hello}
	s.cond.L = &s.mu
	if len(h.replay) > 0 && j.preface != nil {
		s.push(j.preface)
	}
	for _, m := range h.replay {
		s.push(m)
	}
	s.replayLeft, s.replayedDue, s.replayed, s.full = len(s.queue), j.replayed, s.bytes, false
	if h.subs == nil {
		h.subs = map[*subscriber]struct{}{}
	}
	h.subs[s] = struct{}{}
	if h.OneWriter && !s.readOnly {
		h.writers = append(h.writers, s)
	}
	h.countFullLocked(s)
	h.signalRoom()
	h.tellWatchersLocked()
	return s, nil
}

// tellWatchersLocked gives every client the number watching, with Watchers.
func (h *Shared) tellWatchersLocked() {
	if !h.Watchers {
		return
	}
	for s := range h.subs {
		s.mu.Lock()
		s.watchers = len(h.subs)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// startLocked starts the program and the goroutines of its run.
func (h *Shared) startLocked() error {
	sess, err := h.Backend.Open(clientlessRequest())
	if err != nil {
		return err
	}
	if h.room == nil {
		h.room = make(chan struct{}, 1)
	}
	r := &sharedRun{sess: sess, input: make(chan []byte), done: make(chan struct{})}
	h.run, h.ran = r, true
	go h.serve(r)
	return nil
}

// endRunLocked ends the program's run for good: every client hears how
// it ended. The caller holds h.mu.
func (h *Shared) endRunLocked(ending Ending) {
	h.run = nil
	for s := range h.subs {
		h.removeLocked(s)
		s.end(ending)
	}
}

// clientlessRequest is what a shared program is opened with: its CGI
// environment names no client, since it serves them all.
func clientlessRequest() *http.Request {
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}}
	return r.WithContext(context.Background())
}

// serve runs the program, and again by the restart policy, until it ends
// for good; then it tells every client how it ended.
func (h *Shared) serve(r *sharedRun) {
	defer close(r.done)
	if h.RunEnded != nil {
		defer h.RunEnded()
	}
	fails := 0
	for {
		began := time.Now()
		writerDone := make(chan struct{})
		go h.writeInput(r.sess, r.input, writerDone)
		h.broadcast(r.sess)
		r.sess.Stop()
		ending := r.sess.Wait()
		close(writerDone)
		_ = r.sess.Close()

		h.mu.Lock()
		restart := !r.stopping && !h.ended && (len(h.subs) > 0 || h.Start == StartAlways) && h.Restart.wants(ending)
		if r.stopping && !h.ended && len(h.subs) > 0 && !h.Once {
			restart, fails = true, 0 // a client came while it stopped
		}
		if !restart {
			h.endRunLocked(ending)
			h.mu.Unlock()
			h.retiredRunEnded()
			return
		}
		if time.Since(began) >= backoffReset {
			fails = 0
		}
		delay := backoff(fails)
		fails++
		h.mu.Unlock()
		h.Log.Info("the shared program ended; restarting", "status", ending.Status, "after", delay)
		wait := time.NewTimer(delay)
		select {
		case <-wait.C:
		case <-h.endedCh():
			wait.Stop()
		}
		h.mu.Lock()
		if h.ended || (len(h.subs) == 0 && h.Start == StartFirst) { // all left meanwhile, or retired
			h.endRunLocked(ending)
			h.mu.Unlock()
			h.retiredRunEnded()
			return
		}
		sess, err := h.Backend.Open(clientlessRequest())
		if err != nil {
			h.Log.Error("cannot restart the shared program", "err", err)
			sess = failedSession{}
		}
		r.sess, r.stopping = sess, false
		h.mu.Unlock()
	}
}

// retiredRunEnded calls Retire's done, once the run has ended for good.
func (h *Shared) retiredRunEnded() {
	h.mu.Lock()
	done := h.retiredDone
	h.retiredDone = nil
	h.mu.Unlock()
	if done != nil {
		done()
	}
}

// endedCh is closed by End.
func (h *Shared) endedCh() chan struct{} {
	h.endOnce.Do(func() { h.endc = make(chan struct{}) })
	return h.endc
}

// Restart's backoff: from backoffMin, doubling to backoffMax; a run that
// lasted backoffReset starts over.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = 10 * time.Second
)

func backoff(fails int) time.Duration {
	return min(backoffMin<<min(fails, 20), backoffMax)
}

func (p RestartPolicy) wants(e Ending) bool {
	switch p {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return e.Code != wire.ExitCode(0)
	}
	return false
}

// failedSession stands for a program that could not restart: it ends at
// once, as a failure, so the backoff goes on.
type failedSession struct{}

func (failedSession) Read([]byte) (int, error)    { return 0, io.EOF }
func (failedSession) Write(b []byte) (int, error) { return 0, io.ErrClosedPipe }
func (failedSession) CloseWrite() error           { return nil }
func (failedSession) Stop()                       {}
func (failedSession) Close() error                { return nil }
func (failedSession) Wait() Ending {
	return Ending{Code: wire.InternalError, Reason: "cannot start the program", Status: "cannot start"}
}

// writeInput writes clients' messages to the program, one whole message
// at a time, until the run ends. A client never waits on the program's
// input past its own leaving (subscriber.Write).
func (h *Shared) writeInput(sess Session, input <-chan []byte, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case b := <-input:
			if _, err := sess.Write(b); err != nil {
				h.Log.Debug("shared program input", "err", err)
			}
		}
	}
}

// broadcast reads the program's output, cuts it into messages and queues
// each for every client, until the output ends.
func (h *Shared) broadcast(sess Session) {
	buf := make([]byte, 64<<10)
	end := 0
	for {
		room, ok := h.paceRoom(len(buf) - end)
		if !ok {
			return // stopped while waiting for room
		}
		n, err := sess.Read(buf[end : end+room])
		end += n
		eof := err != nil
		// One allocation per read holds its messages, shared by every queue.
		var block []byte
		start := 0
		for {
			adv, _, _ := h.Framing.Split(buf[start:end], h.MaxMessage, eof)
			if adv == 0 {
				break
			}
			if block == nil {
				block = append([]byte(nil), buf[start:end]...)
			}
			off := start - (end - len(block))
			msg := block[off : off+adv : off+adv]
			if eof && h.Framing == Line && msg[len(msg)-1] != '\n' {
				msg = append(msg, '\n') // the last line, whole for what follows a restart
			}
			if !h.deliver(msg) {
				return // stopped while waiting for room
			}
			start += adv
		}
		if eof {
			return
		}
		end = copy(buf, buf[start:end])
		if end == len(buf) { // a line longer than the buffer
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

// deliver queues msg for every client (and the replay ring). First it waits
// while the policy says to: while every client is full, or with SlowWait
// while any is. Clients still full then are dropped or skip ahead. false:
// the hub ended while waiting.
func (h *Shared) deliver(msg []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.waitRoomLocked() {
		return false
	}
	h.keepLocked(msg)
	for s := range h.subs {
		s.mu.Lock()
		if s.full {
			if h.Slow == SlowDrop {
				s.mu.Unlock()
				h.removeLocked(s)
				s.end(Ending{Code: wire.PolicyViolation, Reason: "too slow", Status: "too slow"})
				continue
			}
			s.skip() // SlowSkip
		}
		s.push(msg)
		s.mu.Unlock()
		h.countFullLocked(s)
	}
	return true
}

// waitRoomLocked waits while the policy says the program must; false: the
// hub ended meanwhile. The caller holds h.mu, which it lets go to wait.
func (h *Shared) waitRoomLocked() bool {
	for h.mustWaitLocked() {
		h.mu.Unlock()
		<-h.room
		h.mu.Lock()
		if h.ended || (h.run != nil && h.run.stopping) {
			return false
		}
	}
	return true
}

// paceRoom is how much of free the next read of the program's output may
// take: all of it, or with Pace what brings the fastest client to its pace
// (waiting for room first). A read bigger than that would hold output,
// taken from the program's terminal, that a Ctrl-C no longer flushes.
// false: the hub ended while waiting.
func (h *Shared) paceRoom(free int) (int, bool) {
	if h.Pace <= 0 || h.Slow == SlowWait {
		return free, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.waitRoomLocked() {
		return 0, false
	}
	if len(h.subs) == 0 {
		return free, true // output goes to the replay only
	}
	room := 1
	for s := range h.subs {
		s.mu.Lock()
		room = max(room, s.keepsUp()-s.live())
		s.mu.Unlock()
	}
	return min(free, room), true
}

// keepLocked keeps msg for the replay, dropping the oldest beyond Replay
// messages or ReplayBytes (but never the last).
func (h *Shared) keepLocked(msg []byte) {
	if h.Replay <= 0 {
		return
	}
	h.kept += len(msg)
	if n := len(h.replay); h.Framing == Terminal && n > 0 && len(h.replay[n-1])+len(msg) <= replayMerge {
		// A terminal's output is a byte stream: small messages (a line, a
		// key's echo) are kept merged, so a replay is a few messages, each
		// costing its queue little. The last one grows past its length
		// only: queues hold it with its length and never grow it.
		last := h.replay[n-1]
		if cap(last)-len(last) < len(msg) {
			last = append(make([]byte, 0, replayMerge), last...)
		}
		h.replay[n-1] = append(last, msg...)
	} else {
		h.replay = append(h.replay, msg)
	}
	drop := 0
	for n := len(h.replay); n-drop > h.Replay || h.ReplayBytes > 0 && h.kept > h.ReplayBytes && n-drop > 1; drop++ {
		h.kept -= len(h.replay[drop])
		h.replay[drop] = nil
	}
	h.replay = h.replay[drop:] // append moves the rest when it grows
}

// countFullLocked brings nfull up to date with s: whether it counts s is
// s.counted, kept under the hub's lock (s.full is under s's own).
func (h *Shared) countFullLocked(s *subscriber) {
	s.mu.Lock()
	full := s.full
	s.mu.Unlock()
	if full != s.counted {
		s.counted = full
		if full {
			h.nfull++
		} else {
			h.nfull--
			h.signalRoom()
		}
	}
}

func (h *Shared) mustWaitLocked() bool {
	behind := h.nfull
	if h.Pace > 0 && h.Slow != SlowWait {
		behind = len(h.subs) // none may be full, yet all a Pace behind
	}
	return mustWait(h.Slow, behind, behind > 0 && h.anyKeepsUpLocked())
}

// mustWait says whether the program waits for room: with SlowWait while
// any client is full; otherwise while some are full (with Pace: behind)
// and none keeps up (its queue under half, or under its pace): then every
// client is slow, the program is the fast one, and dropping all but the
// first to get room would be wrong. A full client is dropped (or skips)
// only beside one that keeps up.
func mustWait(p SlowPolicy, full int, oneKeepsUp bool) bool {
	if p == SlowWait {
		return full > 0
	}
	return full > 0 && !oneKeepsUp
}

func (h *Shared) anyKeepsUpLocked() bool {
	for s := range h.subs {
		s.mu.Lock()
		low := s.live() < s.keepsUp()
		s.mu.Unlock()
		if low {
			return true
		}
	}
	return false
}

// keepsUp is the queue, the replay aside, under which s keeps up: half
// the Queue, or with Pace what it reads in a paceSample but at least Pace;
// s.mu is held.
func (s *subscriber) keepsUp() int {
	h := s.hub
	if h.Pace <= 0 {
		return h.Queue / 2
	}
	return min(max(h.Pace, s.ahead), h.Queue/2)
}

// paceSample is how long a client's reading is measured over, with Pace.
const paceSample = 100 * time.Millisecond

// drained counts n bytes read, with Pace; s.mu is held.
func (s *subscriber) drained(n int) {
	if s.hub.Pace <= 0 {
		return
	}
	s.read += n
	now := time.Now()
	if d := now.Sub(s.sampled); d >= paceSample {
		s.ahead = int(int64(s.read) * int64(paceSample) / int64(d))
		s.read, s.sampled = 0, now
	}
}

// signalRoom wakes deliver if it waits.
func (h *Shared) signalRoom() {
	select {
	case h.room <- struct{}{}:
	default:
	}
}

// removeLocked takes a subscriber out of the hub; with the last one gone
// a StartFirst program lingers, then stops.
func (h *Shared) removeLocked(s *subscriber) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	h.writers = slices.DeleteFunc(h.writers, func(w *subscriber) bool { return w == s })
	if s.counted {
		s.counted = false
		h.nfull--
	}
	h.signalRoom()
	h.tellWatchersLocked()
	if len(h.subs) > 0 || h.Start != StartFirst || h.run == nil {
		return
	}
	r := h.run
	stop := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.run == r && len(h.subs) == 0 && !r.stopping {
			r.stopping = true
			r.sess.Stop()
			h.signalRoom()
		}
	}
	if h.Linger <= 0 {
		r.stopping = true
		r.sess.Stop()
		return
	}
	h.stopLingerLocked()
	h.linger = time.AfterFunc(h.Linger, stop)
}

func (h *Shared) stopLingerLocked() {
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
}

// A subscriber is one client of a Shared hub: a Session whose output is
// its queue. Read, Write and Stop may run at once, as Session allows.
type subscriber struct {
	hub  *Shared
	gone chan struct{} // closed by Stop, or when it ended: input is no longer taken

	mu       sync.Mutex
	cond     sync.Cond // on mu: the queue got a message, or it ended
	queue    [][]byte  // nil while empty: an idle client holds none
	head     int       // queue[head:] is waiting
	off      int       // of queue[head] already read
	bytes    int       // queued, counted as Queue counts
	replayed int       // of bytes, the replay's (what is left of it)
	// With Pace: what it read in the last paceSample, what it has read
	// since sampled.
	ahead, read int
	sampled     time.Time
	full        bool   // live() has reached the hub's Queue
	counted     bool   // in the hub's nfull; under the hub's lock
	readOnly    bool   // its messages are dropped and its size ignored
	hello       []byte // a notice to give first, nil once given
	// replayLeft counts the queued messages of the replay; once they are
	// read, a wire.Replayed notice is due (replayedDue), before the rest.
	replayLeft  int
	replayedDue bool
	watchers    int     // how many watch (Watchers), told when it changes
	told        int     // the last number told
	skipped     int64   // messages lost to SlowSkip
	ending      *Ending // set once it ended
	endOnce     sync.Once
	stopped     atomic.Bool
}

// push queues msg; mu is held.
func (s *subscriber) push(msg []byte) {
	if s.ending != nil {
		return
	}
	if s.head > 0 && len(s.queue) == cap(s.queue) { // reuse what was read
		s.queue = s.queue[:copy(s.queue, s.queue[s.head:])]
		s.head = 0
	}
	s.queue = append(s.queue, msg)
	s.bytes += len(msg) + queueOverhead
	s.full = s.live() >= s.hub.Queue
	if len(s.queue)-s.head == 1 {
		s.cond.Signal()
	}
}

// live is what is queued besides the replay; mu is held.
func (s *subscriber) live() int { return s.bytes - s.replayed }

// skip drops what is queued: the client skips ahead; mu is held.
func (s *subscriber) skip() {
	s.skipped += int64(len(s.queue) - s.head)
	s.queue, s.head, s.off, s.bytes, s.replayed, s.full, s.replayLeft = nil, 0, 0, 0, 0, false, 0
}

// end ends the subscriber with e: it reads what is queued (unless e drops
// it), then EOF. The hub's lock is held.
func (s *subscriber) end(e Ending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending != nil {
		return
	}
	if e.Code == wire.PolicyViolation {
		s.skipped += int64(len(s.queue) - s.head)
		s.queue, s.head, s.off, s.bytes, s.replayed, s.full = nil, 0, 0, 0, 0, false
	}
	if s.skipped > 0 {
		e.Status += ", skipped messages"
	}
	s.ending = &e
	s.endOnce.Do(func() { close(s.gone) })
	s.cond.Broadcast()
}

// WaitRead waits for a message without a buffer (readWaiter).
func (s *subscriber) WaitRead() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == s.head && s.ending == nil && !s.noticeDue() {
		s.cond.Wait()
	}
	return nil
}

// noticeDue says whether a notice waits; mu is held.
func (s *subscriber) noticeDue() bool {
	return s.hello != nil || s.replayedDue && s.replayLeft == 0 || s.watchers != s.told
}

// notice is the next notice for the client, nil if none: the hello, the
// end of the replay once it is read, then how many watch when that
// changed. A Read that finds only a notice (or the replay's end) returns
// 0 bytes, so the pump comes for it.
func (s *subscriber) notice() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.hello != nil:
		m := s.hello
		s.hello = nil
		return m
	case s.replayedDue && s.replayLeft == 0:
		s.replayedDue = false
		return wire.Replayed
	case s.watchers != s.told && s.ending == nil:
		s.told = s.watchers
		return wire.Watchers{Count: s.watchers}.Marshal()
	}
	return nil
}

// Read gives queued messages: with Line framing as many whole ones as fit,
// otherwise one, so each stays one message.
func (s *subscriber) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == s.head && s.ending == nil && !s.noticeDue() {
		s.cond.Wait()
	}
	replayEnd := s.replayedDue && s.replayLeft == 0
	if len(s.queue) == s.head || replayEnd {
		if s.ending == nil || replayEnd {
			return 0, nil // a notice
		}
		return 0, io.EOF
	}
	n, behind := 0, s.live() >= s.keepsUp()
	for s.head < len(s.queue) && n < len(p) && !(s.replayedDue && s.replayLeft == 0) {
		m := s.queue[s.head][s.off:]
		c := copy(p[n:], m)
		n += c
		if c < len(m) {
			s.off += c
			break
		}
		size := len(s.queue[s.head]) + queueOverhead
		s.bytes -= size
		s.queue[s.head] = nil
		s.head++
		s.off = 0
		if s.replayLeft > 0 {
			s.replayLeft--
			s.replayed -= size
		}
		if s.hub.Framing != Line {
			break
		}
	}
	if s.head == len(s.queue) {
		s.queue, s.head = nil, 0
	}
	// Compared with what was queued before, not after plus n: each
	// message counted queueOverhead more than the n bytes read.
	s.drained(n) // which may move keepsUp either way
	if behind && s.live() < s.keepsUp() {
		s.hub.signalRoom() // it keeps up now: a full one may be dropped, or the program go on
	}
	if s.full && s.live() < s.hub.Queue {
		s.full = false
		s.mu.Unlock()
		s.hub.roomBack(s)
		s.mu.Lock()
	}
	return n, nil
}

// roomBack counts a subscriber whose queue has room again.
func (h *Shared) roomBack(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		h.countFullLocked(s)
	}
}

// Write hands a message to the program, whole; with ReadOnly, or between
// runs, it is dropped.
func (s *subscriber) Write(b []byte) (int, error) {
	h := s.hub
	h.mu.Lock()
	r := h.run
	writes := !h.OneWriter || len(h.writers) > 0 && h.writers[len(h.writers)-1] == s
	h.mu.Unlock()
	if h.ReadOnly || s.readOnly || !writes || r == nil {
		return len(b), nil
	}
	msg := append([]byte(nil), b...) // the pump reuses b
	select {
	case r.input <- msg:
		return len(b), nil
	case <-r.done:
		return len(b), nil
	case <-s.gone:
		return 0, errors.New("the client left")
	}
}

// Resize passes a writer's size on to the program's terminal, if it has
// one: the terminal has the size of the writer that sized it last.
// Read-only clients' sizes are ignored.
func (s *subscriber) Resize(cols, rows int) error {
	h := s.hub
	h.mu.Lock()
	var sess Session
	if h.run != nil {
		sess = h.run.sess
	}
	h.mu.Unlock()
	if s.readOnly {
		return nil
	}
	if rz, ok := sess.(Resizer); ok {
		return rz.Resize(cols, rows)
	}
	return nil
}

// CloseWrite does nothing: one client's end of input is not the program's.
func (s *subscriber) CloseWrite() error { return nil }

// Stop is the client leaving: it reads EOF, and the program runs on.
func (s *subscriber) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	h := s.hub
	h.mu.Lock()
	h.removeLocked(s)
	s.end(Ending{Code: wire.NormalClosure, Status: "left"})
	h.mu.Unlock()
}

// Wait returns how the subscriber ended: the program's ending when it
// ended, 1008 when dropped as too slow, or "left".
func (s *subscriber) Wait() Ending {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.ending == nil {
		s.cond.Wait()
	}
	return *s.ending
}

// Close releases the subscriber.
func (s *subscriber) Close() error {
	s.Stop()
	return nil
}

// A lastingBackend runs beside its sessions (a Shared program, a Dial's
// Redis connections): the server begins it with itself and ends it after
// its sessions; a reload retires the one a route no longer has.
type lastingBackend interface {
	Begin() // start what runs without clients
	// Retire: run on for the clients it has, then stop, and call done
	// (from any goroutine) once nothing is left to End.
	Retire(done func())
	End() // stop, after every session ended
}

func (s *Server) beginLasting(routes []*Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range routes {
		if l, ok := r.Backend.(lastingBackend); ok && !slices.Contains(s.lasting, l) {
			s.lasting = append(s.lasting, l)
			l.Begin()
		}
	}
}

// retireLasting retires, once, the lasting backends that routes no longer
// have; each leaves the list when it has finished.
func (s *Server) retireLasting(routes []*Route) {
	s.mu.Lock()
	var retire []lastingBackend
	for _, l := range s.lasting {
		if !s.retired[l] && !slices.ContainsFunc(routes, func(r *Route) bool { return any(r.Backend) == any(l) }) {
			if s.retired == nil {
				s.retired = map[lastingBackend]bool{}
			}
			s.retired[l] = true
			retire = append(retire, l)
		}
	}
	s.mu.Unlock()
	for _, l := range retire {
		l.Retire(func() { s.dropLasting(l) })
	}
}

// dropLasting forgets a retired backend that has finished.
func (s *Server) dropLasting(l lastingBackend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A new slice: endLasting may be going through the old one.
	s.lasting = slices.DeleteFunc(slices.Clone(s.lasting), func(x lastingBackend) bool { return x == l })
	delete(s.retired, l)
}

func (s *Server) endLasting() {
	s.mu.Lock()
	lasting := s.lasting
	s.mu.Unlock()
	for _, l := range lasting {
		l.End()
	}
}

// Retire makes the hub StartFirst: it stops after its last client leaves,
// without a linger, since no client can come back to it; done (if set) is
// called when its program has ended.
func (h *Shared) Retire(done func()) {
	h.mu.Lock()
	h.Start, h.Linger = StartFirst, 0
	if h.run == nil {
		h.mu.Unlock()
		if done != nil {
			done()
		}
		return
	}
	h.retiredDone = done
	if len(h.subs) == 0 && !h.run.stopping {
		h.run.stopping = true
		h.run.sess.Stop()
		h.signalRoom()
	}
	h.mu.Unlock()
}

var (
	startWords   = []string{"first", "always"}
	restartWords = []string{"never", "on-failure", "always"}
	slowWords    = []string{"drop", "skip", "wait"}
)

func (p StartPolicy) String() string   { return startWords[p] }
func (p RestartPolicy) String() string { return restartWords[p] }
func (p SlowPolicy) String() string    { return slowWords[p] }

// ParseStartPolicy reads "first" or "always".
func ParseStartPolicy(s string) (StartPolicy, error) { return parseWord[StartPolicy](s, startWords) }

// ParseRestartPolicy reads "never", "on-failure" or "always".
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	return parseWord[RestartPolicy](s, restartWords)
}

// ParseSlowPolicy reads "drop", "skip" or "wait".
func ParseSlowPolicy(s string) (SlowPolicy, error) { return parseWord[SlowPolicy](s, slowWords) }

func parseWord[T ~int](s string, words []string) (T, error) {
	if i := slices.Index(words, s); i >= 0 {
		return T(i), nil
	}
	return 0, fmt.Errorf("unknown value %q (want %s or %s)", s, strings.Join(words[:len(words)-1], ", "), words[len(words)-1])
}
