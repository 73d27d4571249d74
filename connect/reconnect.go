package connect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gorilla/websocket"
)

// --reconnect: a dial that fails for a reason that may pass (nothing
// answers, the server or its backend is down or busy) is tried again, each
// wait about twice the last (firstRetry up to maxRetry, with jitter, so
// many clients of a server that comes back do not all dial at once).
// ReconnectMax bounds the retries in a row. Stdio also dials again when the
// connection is lost before its input has ended (see Stdio); a --listen
// tunnel that is lost ends, and its local client may connect again.
const (
	firstRetry = 250 * time.Millisecond
	maxRetry   = 30 * time.Second
)

// retryable is a dial's *Error that another try may cure.
type retryable struct{ e *Error }

func (r retryable) Error() string { return r.e.Msg }
func (r retryable) Unwrap() error { return r.e }

// dialError's statuses that may pass; a server that hangs up in the
// handshake may be restarting (it is 76 otherwise: not a WebSocket).
func isRetryable(e *Error, raw error) bool {
	switch e.Code {
	case ExitUnreachable, ExitBusy, ExitBackend:
		return true
	}
	return errors.Is(raw, io.EOF) || errors.Is(raw, io.ErrUnexpectedEOF) || connReset(raw)
}

// backoff is the wait before retry n (0 for the first): between half and
// all of firstRetry·2ⁿ, at most maxRetry.
func backoff(n int) time.Duration {
	d := min(firstRetry<<min(n, 16), maxRetry)
	return d/2 + rand.N(d/2+1)
}

// dialRetry is Dial, tried again while o.Reconnect says so. failed is how
// many tries in a row have failed before (a lost connection counts): with
// some, it waits before the first dial too, so nothing ever spins.
func (o *Options) dialRetry(ctx context.Context, log *slog.Logger, failed int) (ws *websocket.Conn, halfClose bool, err error) {
	for ; ; failed++ {
		if failed > 0 {
			t := time.NewTimer(backoff(failed - 1))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, false, context.Cause(ctx)
			}
		}
		ws, halfClose, err = o.Dial(ctx)
		var r retryable
		if err == nil || !o.Reconnect || !errors.As(err, &r) || (o.ReconnectMax > 0 && failed >= o.ReconnectMax) {
			return ws, halfClose, err
		}
		log.Warn("dial failed, trying again", "retry", failed+1, "err", err)
	}
}

// lostConnection says whether a session's end (before closeError) is one
// that Stdio dials again after with --reconnect: no close frame, no answer
// to pings, or a server going away or restarting (1001, 1012, 1013).
func lostConnection(err error) bool {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return true
	}
	switch ce.Code {
	// 1006 is gorilla's word for a connection that ended without a close
	// frame (an unexpected EOF: a network cut).
	case websocket.CloseAbnormalClosure, websocket.CloseGoingAway, websocket.CloseServiceRestart, websocket.CloseTryAgainLater:
		return true
	}
	return false
}

// errConnEnded is what a handoff's reader returns once its connection has
// ended: the next connection reads on.
var errConnEnded = errors.New("connection ended")

// handoff reads the input once for a run of connections (Stdio with
// --reconnect): one goroutine reads it, and each connection's sender takes
// what it reads until that connection ends. What a lost connection had
// taken but not delivered is lost with it.
type handoff struct {
	chunks chan []byte   // closed at the input's end
	end    error         // why the input ended, set before chunks closes
	stop   chan struct{} // closed when no connection will read again
}

func newHandoff(in io.Reader) *handoff {
	h := &handoff{chunks: make(chan []byte), stop: make(chan struct{})}
	go h.read(in)
	return h
}

func (h *handoff) read(in io.Reader) {
	defer close(h.chunks)
	for {
		buf := make([]byte, 32<<10) // each chunk its own: the taker copies it later
		n, err := in.Read(buf)
		if n > 0 {
			select {
			case h.chunks <- buf[:n]:
			case <-h.stop:
				h.end = errConnEnded
				return
			}
		}
		if err != nil {
			h.end = err
			return
		}
	}
}

// reader is the input for one connection, until done closes.
func (h *handoff) reader(done <-chan struct{}) io.Reader {
	return &handoffReader{h: h, done: done}
}

type handoffReader struct {
	h    *handoff
	done <-chan struct{}
	rest []byte
}

func (r *handoffReader) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		select {
		case c, ok := <-r.h.chunks:
			if !ok {
				return 0, r.h.end
			}
			r.rest = c
		case <-r.done:
			return 0, errConnEnded
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}
