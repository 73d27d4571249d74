package bridge

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/internal/pollwait"
	"github.com/wsbridge/wsbridge/wire"
)

const (
	// closeWait bounds how long we wait for the client's answer to our close
	// frame, and how long a control frame may take to write.
	closeWait = 2 * time.Second
	// drainWait bounds each write of output to a client that has sent its
	// close frame: it should still read until our close frame comes.
	drainWait = 10 * time.Second
	// idleBuffer is the size of an idle session's output buffer; busyBuffer
	// is what fast output borrows (see readBuffer).
	idleBuffer = 4 << 10
	busyBuffer = 256 << 10
)

// wsSession joins one WebSocket to one backend Session with two pumps: input
// (messages to the backend) runs in its own goroutine, output (backend to
// messages) in run's. Only output writes data; the close frame follows it in
// the same goroutine, so nothing already read is lost behind it.
type wsSession struct {
	conn    *websocket.Conn
	backend Session
	proto   protocol // the messages' side: stream framings or terminal
	route   *Route
	log     *slog.Logger
	obs     Observer
	event   SessionEvent // route, client, path, user, start

	bytesIn, bytesOut atomic.Int64
	clientClosed      atomic.Bool  // the client's close frame has come
	lastData          atomic.Int64 // when data last went either way (UnixNano), with IdleTimeout

	closeMu    sync.Mutex
	closeSent  int           // the code of the first close frame we sent, 0 if none
	clientCode int           // the code the client closed with, 0 if it has not
	timers     []*time.Timer // cutAfter and idle timers, stopped when run ends
	idleTimer  *time.Timer
	ended      bool // run has stopped the timers

	stop      chan struct{} // closed when run ends, to stop the pinger
	inputDone chan struct{} // closed when the input pump has returned

	watch hangupWatch // of the client, while a write to the backend blocks
}

// hangupWatch is the state of writeBackend's watch of the client.
//
// Its timer is armed by the first write after it last fired, not by every
// write: arming a timer earlier than the poller's sleep wakes the poller
// (an eventfd write and a thread woken) or another thread, on every
// message. When it fires it looks at the write under way, if any: one that
// has taken watchAfter starts the watch, a younger one re-arms the timer
// for the rest, and none leaves it unarmed until the next write. A blocked
// write is still watched watchAfter after it began; a session that writes
// often arms the timer about once per watchAfter.
type hangupWatch struct {
	mu      sync.Mutex
	writing bool        // a write to the backend is under way
	since   time.Time   // when it began
	timer   *time.Timer // starts the watch when a write takes watchAfter
	armed   bool        // the timer will fire
	arms    int         // how often it was armed, for tests
	stop    func()      // ends the running watch, nil if none
}

// watchAfter is how long a write to the backend may block before the
// client's socket is watched for a hangup.
const watchAfter = 100 * time.Millisecond

func newSession(conn *websocket.Conn, backend Session, route *Route, r *http.Request, log *slog.Logger, obs Observer) *wsSession {
	return &wsSession{
		conn:    conn,
		backend: backend,
		proto:   newProtocol(route, backend, log),
		route:   route,
		log:     log,
		obs:     obs,
		event: SessionEvent{
			Route:  route.routeName(),
			Client: r.RemoteAddr,
			Path:   r.URL.Path,
			User:   userOf(r),
			Start:  time.Now(),
		},
		stop:      make(chan struct{}),
		inputDone: make(chan struct{}),
	}
}

// run serves the session to its end and releases everything it held.
func (s *wsSession) run() {
	if s.route.PingInterval > 0 {
		s.extendReadDeadline()
		s.conn.SetPongHandler(func(string) error { s.extendReadDeadline(); return nil })
		go s.pinger()
	}
	// Keep the client's close frame for ourselves: the answer goes out only
	// after the backend's remaining output.
	s.conn.SetCloseHandler(func(code int, _ string) error {
		s.closeMu.Lock()
		s.clientCode = code
		s.closeMu.Unlock()
		return nil
	})
	if d := s.route.IdleTimeout; d > 0 {
		s.touch()
		s.closeMu.Lock()
		s.idleTimer = time.AfterFunc(d, s.checkIdle)
		s.timers = append(s.timers, s.idleTimer)
		s.closeMu.Unlock()
	}
	go s.input()

	var outErr error
	if msg := s.proto.opening(); msg != nil {
		outErr = s.conn.WriteMessage(websocket.TextMessage, msg)
	}
	if outErr == nil {
		outErr = s.output()
	}
	// Output is over, so the session is: a backend that lingers (a program
	// that closed stdout but runs on) is stopped, gracefully and bounded.
	s.backend.Stop()
	if outErr != nil {
		_ = s.conn.Close() // the client is gone or stuck
	}
	ending := s.backend.Wait()
	if msg := s.proto.closing(ending); outErr == nil && msg != nil {
		outErr = s.conn.WriteMessage(websocket.TextMessage, msg)
	}
	if outErr == nil {
		s.sendClose(int(ending.Code), ending.Reason)
		select {
		case <-s.inputDone:
		case <-time.After(closeWait):
		}
	}
	_ = s.conn.Close()
	_ = s.backend.Close()
	<-s.inputDone
	close(s.stop)
	s.closeMu.Lock()
	s.ended = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.closeMu.Unlock()
	s.observeEnd(ending)
}

// touch notes that data went one way or the other, for IdleTimeout.
func (s *wsSession) touch() {
	if s.route.IdleTimeout > 0 {
		s.lastData.Store(time.Now().UnixNano())
	}
}

// checkIdle runs on the idle timer: a session without data for IdleTimeout
// is closed with 1001, otherwise the timer is set for the rest.
func (s *wsSession) checkIdle() {
	d := s.route.IdleTimeout
	idle := time.Since(time.Unix(0, s.lastData.Load()))
	if idle < d {
		s.closeMu.Lock()
		defer s.closeMu.Unlock()
		if !s.ended {
			s.idleTimer.Reset(d - idle)
		}
		return
	}
	s.cutAfter(closeWait) // first, as in goingAway
	s.sendClose(websocket.CloseGoingAway, "idle timeout")
	s.backend.Stop()
}

// cutAfter closes the connection after d unless the session has ended. It
// bounds how long output may block on a client during shutdown; gorilla allows
// write deadlines only from the writing goroutine, closing works from any.
func (s *wsSession) cutAfter(d time.Duration) {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.ended {
		s.timers = append(s.timers, time.AfterFunc(d, func() { _ = s.conn.Close() }))
	}
}

// output copies the backend's output into messages until it ends. An error
// means a write to the client failed.
//
// Each read is sent as it comes (binary, raw) or cut into lines, so output
// is never held back. The buffer (see readBuffer) is none while a backend
// that can wait without one (a readWaiter) is idle, small while output
// trickles, large while reads fill it, and grows up to the message limit
// while a line does not fit.
func (s *wsSession) output() error {
	limit := s.route.MaxMessage
	buf := newReadBuffer(min(idleBuffer, limit+1))
	defer buf.release()
	waiter, _ := s.backend.(readWaiter)
	idler, _ := s.backend.(idleReader)
	start, end, eof, lastRead := 0, 0, false, 0
	for {
		for {
			adv, msg, binary := s.proto.split(buf.b[start:end], limit, eof)
			if adv == 0 {
				break
			}
			mt := websocket.TextMessage
			if binary {
				mt = websocket.BinaryMessage
			}
			if s.clientClosed.Load() {
				_ = s.conn.SetWriteDeadline(time.Now().Add(drainWait))
			}
			s.proto.sent(len(msg)) // before the client can acknowledge it
			if err := s.conn.WriteMessage(mt, msg); err != nil {
				return err
			}
			s.bytesOut.Add(int64(len(msg)))
			s.touch()
			start += adv
		}
		for msg := s.proto.notice(); msg != nil; msg = s.proto.notice() {
			if err := s.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
		filled := len(buf.b) > 0 && end == len(buf.b)
		end = copy(buf.b, buf.b[start:end])
		start = 0
		slowed := lastRead <= buf.small/2
		idle := false
		switch {
		case len(buf.b) > 0 && end == len(buf.b): // an unfinished line fills it
			buf.grow(end, min(max(2*len(buf.b), busyBuffer), limit+1))
		case filled:
			buf.grow(end, min(busyBuffer, limit+1))
		case slowed && end == 0 && idler != nil:
			// Read into the small buffer, which goes back while the
			// backend has nothing (see idleReader).
			buf.shrink(0)
			idle = true
		case slowed && end == 0 && waiter != nil:
			// Hold no buffer while waiting for output. An error shows in
			// the Read that follows.
			buf.release()
			_ = waiter.WaitRead()
		case slowed:
			buf.shrink(end)
		}
		var n, room int
		var err error
		if idle {
			room = s.proto.room(s.inputDone)
			n, err = idler.readIdle(buf, room)
		} else {
			buf.ensure()
			room = s.proto.room(s.inputDone)
			n, err = s.backend.Read(buf.b[end : end+min(len(buf.b)-end, room)])
		}
		end += n
		if err == nil && end == len(buf.b) && n < room {
			var more int
			more, err = s.readRest(buf, end, limit, room-n)
			n += more
			end += more
		}
		lastRead = n
		if err != nil {
			if err != io.EOF {
				s.log.Debug("backend read", "err", err)
			}
			eof = true
		}
	}
}

// readRest reads into the same message what is left of output that filled
// the small buffer, when the backend can tell it waits (a program's pipe):
// a program's one write is one message, as websocketd sends a message per
// read, however small the buffer started. Bulk output, already in large
// buffers, does not pay for the question. It reads at most room bytes.
func (s *wsSession) readRest(buf *readBuffer, end, limit, room int) (int, error) {
	b, ok := s.backend.(interface{ Buffered() int })
	size := min(busyBuffer, limit+1)
	if !ok || end >= size {
		return 0, nil
	}
	waiting := b.Buffered()
	if waiting <= 0 {
		return 0, nil
	}
	buf.grow(end, size)
	return s.backend.Read(buf.b[end:min(end+min(waiting, room), size)])
}

// input copies messages into the backend until the client closes or fails,
// then tells the backend.
func (s *wsSession) input() {
	defer close(s.inputDone)
	defer s.stopWatch()
	for {
		mt, r, err := s.conn.NextReader()
		var buf []byte
		if err == nil {
			// A message borrows a buffer from the shared pools while it is
			// handled, so idle sessions hold none.
			buf, err = readMessage(take(idleBuffer)[:0], r, s.route.MaxMessage)
		}
		if err != nil {
			s.inputEnded(err)
			return
		}
		if mt == websocket.TextMessage && !utf8.Valid(buf) {
			s.sendClose(websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in a text message")
			s.backend.Stop()
			return
		}
		s.bytesIn.Add(int64(len(buf)))
		s.touch()
		data, err := s.proto.input(mt, buf)
		if err != nil {
			s.protocolError(err.Error())
			return
		}
		if data != nil {
			if err := s.writeBackend(data); err != nil {
				// The backend stopped reading its input; its output decides the rest.
				s.log.Debug("backend write", "err", err)
				return
			}
		}
		giveBack(buf)
		if s.route.PingInterval > 0 {
			s.extendReadDeadline()
		}
	}
}

// writeBackend writes input to the backend. While a backend that does not
// read blocks it, nobody reads from the client, so nothing would notice the
// client leave: a write that takes watchAfter also watches the client's
// socket, and a hangup stops the backend, which ends the write and, by the
// signal ladder, the session.
func (s *wsSession) writeBackend(b []byte) error {
	w := &s.watch
	w.mu.Lock()
	w.writing = true
	w.since = time.Now()
	if !w.armed {
		w.armed = true
		w.arms++
		if w.timer == nil {
			w.timer = time.AfterFunc(watchAfter, s.watchClient)
		} else {
			w.timer.Reset(watchAfter)
		}
	}
	w.mu.Unlock()
	_, err := s.backend.Write(b)
	w.mu.Lock()
	w.writing = false
	stop := w.stop
	w.stop = nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
	return err
}

// stopWatch stops writeBackend's timer, when input has ended.
func (s *wsSession) stopWatch() {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.armed = false
	}
}

// watchClient runs on writeBackend's timer: a write that has blocked for
// watchAfter starts the watch; see hangupWatch.
func (s *wsSession) watchClient() {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return // stopped meanwhile
	}
	if w.writing && w.stop == nil {
		if d := time.Since(w.since); d < watchAfter {
			w.timer.Reset(watchAfter - d)
			return
		}
	}
	w.armed = false
	sc := clientSocket(s.conn.NetConn())
	if !w.writing || w.stop != nil || sc == nil {
		return
	}
	stop, err := pollwait.WatchHangup(sc, func() {
		s.log.Debug("the client hung up while the backend was not reading its input")
		s.backend.Stop()
	})
	if err != nil {
		s.log.Debug("cannot watch the client", "err", err)
		return
	}
	w.stop = stop
}

// clientSocket is the socket under a client's connection, nil if there is
// none to watch.
func clientSocket(c net.Conn) syscall.Conn {
	c = uncheck(c)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, _ := c.(syscall.Conn)
	return sc
}

// inputEnded handles the end of the client's messages.
func (s *wsSession) inputEnded(err error) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		// A clean close: the backend gets EOF and may still answer, within
		// bounds, before our close frame tells the client how it ended. A
		// client that closed with wire.EndOfInput waits for the whole answer.
		s.clientClosed.Store(true)
		_ = s.backend.CloseWrite()
		if wire.CloseCode(ce.Code) == wire.EndOfInput && s.proto.halfClose() {
			s.awaitDisconnect()
		}
		s.backend.Stop()
		return
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has already sent 1009.
		s.noteClose(websocket.CloseMessageTooBig)
	} else if errors.Is(err, errInflatedTooBig) {
		s.sendClose(websocket.CloseMessageTooBig, errInflatedTooBig.Error())
		// Drop the rest until the client answers: closing on unread bytes
		// would send a reset, which may destroy the close frame on its way.
		_ = s.conn.SetReadDeadline(time.Now().Add(closeWait))
		for {
			if _, _, err := s.conn.NextReader(); err != nil {
				break
			}
		}
	} else if errors.Is(err, errCloseOneByte) {
		s.sendClose(websocket.CloseProtocolError, errCloseOneByte.Error())
	} else {
		s.log.Debug("client read", "err", err)
	}
	// Nobody is left to read output: stop, and unblock a pending write.
	s.backend.Stop()
	_ = s.conn.Close()
}

// awaitDisconnect returns when the client's connection ends: after a close
// with wire.EndOfInput (a half-close: `wsbridge connect` at the end of its
// input, waiting for a remote job's output and status) the backend runs on,
// however long, while the client stays. Nothing may follow a close frame:
// whatever comes is dropped. Pings can't tell here (a client that sent its
// close sends no pongs); TCP keepalive notices a client that vanished.
func (s *wsSession) awaitDisconnect() {
	conn := uncheck(s.conn.NetConn()) // what follows is not parsed
	_ = conn.SetReadDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, conn)
}

// errInflatedTooBig is a compressed message that inflates past the route's
// MaxMessage: gorilla's read limit counts the bytes on the wire, so a small
// message could otherwise inflate to a thousand times its size.
var errInflatedTooBig = errors.New("message too big once inflated")

// readMessage reads a whole message into buf, at most limit bytes (the read
// limit bounds only what crossed the wire, not a compressed message's
// inflated size). buf comes from the pools (take); when it is full and more
// comes (see readPast) the message moves to a busyBuffer, then to twice the
// size. Hand the result to giveBack when done.
func readMessage(buf []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		var n int
		var err error
		if len(buf) < cap(buf) {
			n, err = r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
		} else {
			buf, err = readPast(buf, r)
		}
		if len(buf) > limit {
			return buf, errInflatedTooBig
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readPast reads on from a full buffer: into a small array first, so that a
// message of exactly the buffer's size keeps it, then into a buffer twice
// as big (at least a busyBuffer). The array is here, not in readMessage,
// because it escapes: a message that fits allocates nothing.
func readPast(buf []byte, r io.Reader) ([]byte, error) {
	var more [512]byte
	n, err := r.Read(more[:])
	if n > 0 {
		size := max(busyBuffer, 2*cap(buf))
		bigger := take(size)[:len(buf)]
		copy(bigger, buf)
		giveBack(buf)
		buf = append(bigger, more[:n]...)
	}
	return buf, err
}

// sendClose sends our close frame once; later calls do nothing.
func (s *wsSession) sendClose(code int, reason string) {
	if !s.noteClose(code) {
		return
	}
	msg := websocket.FormatCloseMessage(code, reason)
	if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait)); err != nil {
		s.log.Debug("close frame", "err", err)
	}
}

// protocolError closes with 1008 and a reason, and stops the backend.
func (s *wsSession) protocolError(reason string) {
	s.sendClose(websocket.ClosePolicyViolation, reason)
	s.backend.Stop()
	s.cutAfter(closeWait)
}

// noteClose records the first close code sent and says whether this is it.
func (s *wsSession) noteClose(code int) bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closeSent != 0 {
		return false
	}
	s.closeSent = code
	return true
}

// goingAway is the server's shutdown: the client hears 1001 and the backend
// is stopped.
func (s *wsSession) goingAway() {
	// The cut is set first: the close frame itself may wait up to closeWait
	// behind output blocked on a client that does not read.
	s.cutAfter(closeWait)
	s.sendClose(websocket.CloseGoingAway, "server shutting down")
	s.backend.Stop()
}

func (s *wsSession) pinger() {
	t := time.NewTicker(s.route.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.route.PingInterval))
		}
	}
}

// extendReadDeadline gives the client two ping intervals to show it is alive.
func (s *wsSession) extendReadDeadline() {
	_ = s.conn.SetReadDeadline(time.Now().Add(2 * s.route.PingInterval))
}

// userOf names who the request proved to be, for the access log: the
// authenticated user, or else the client certificate's common name.
func userOf(r *http.Request) string {
	if id, ok := auth.FromContext(r.Context()); ok && id.User != "" {
		return id.User
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return "cn=" + r.TLS.PeerCertificates[0].Subject.CommonName
	}
	return ""
}

// observeEnd tells the observer how the session ended.
func (s *wsSession) observeEnd(e Ending) {
	s.closeMu.Lock()
	sent, got := s.closeSent, s.clientCode
	s.closeMu.Unlock()
	s.obs.Ended(EndedEvent{
		SessionEvent:    s.event,
		Ending:          e,
		BytesIn:         s.bytesIn.Load(),
		BytesOut:        s.bytesOut.Load(),
		Duration:        time.Since(s.event.Start),
		CloseCode:       sent,
		ClientCloseCode: got,
	})
}
