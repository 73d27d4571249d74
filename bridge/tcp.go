package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/internal/pollwait"
	"github.com/wsbridge/wsbridge/wire"
)

// Dial is the backend that connects each WebSocket to its own TCP or
// unix-socket connection: one fixed target, or the one a token names. The
// client never chooses a target: they come from the command line or the
// token source only.
type Dial struct {
	Target    Target      // the fixed target; unused with Tokens
	Tokens    TokenSource // targets chosen by token: a TokenFile or TokenRedis
	HostToken bool        // the token is the Host header's name, not ?token=

	Timeout       time.Duration // for the dial, the PROXY header and the TLS handshake together
	TLS           *tls.Config   // nil: plain; with no ServerName, the target's host is verified
	ProxyProtocol int           // 0: none; 1 or 2: send a PROXY header of that version first
	// Grace is how long the backend may go on answering after the client's
	// close frame has half-closed it.
	Grace time.Duration
	Log   *slog.Logger
}

// A Dial is a lasting backend for its token source's sake: a source that
// holds connections (Redis) is closed when a reload replaces the route, and
// at shutdown.
func (d *Dial) Begin() {}

// Retire closes the token source a little later: a request that took the
// routing of before the reload may still be about to look its token up.
func (d *Dial) Retire(done func()) {
	c, ok := d.Tokens.(io.Closer)
	if !ok {
		done()
		return
	}
	time.AfterFunc(retiredSourceGrace, func() {
		c.Close()
		done()
	})
}

func (d *Dial) End() {
	if c, ok := d.Tokens.(io.Closer); ok {
		c.Close()
	}
}

// retiredSourceGrace is how long a replaced route's token source stays open.
var retiredSourceGrace = 10 * time.Second

// Target is where a session connects.
type Target struct {
	Network string // "tcp" or "unix"
	Address string // host:port, or the socket's path
}

func (t Target) String() string { return t.Network + " " + t.Address }

// Kind is "tokens" with a token file, else the target's network, "tcp" or
// "unix" (see BackendKind).
func (d *Dial) Kind() string {
	if d.Tokens != nil {
		return "tokens"
	}
	return d.Target.Network
}

// String names what Open connects to, for logs.
func (d *Dial) String() string {
	s := d.Target.String()
	if d.Tokens != nil {
		s = "targets from " + d.Tokens.String()
	}
	if d.TLS != nil {
		s += " over TLS"
	}
	return s
}

// backendKeepAlive notices a backend that vanished without a word in about a
// minute.
var backendKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

// Open finds the request's target and connects to it, so a refused or
// silent backend is an HTTP error and never a 101.
func (d *Dial) Open(r *http.Request) (Session, error) {
	target, err := d.target(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.Timeout)
	defer cancel()
	dialer := net.Dialer{KeepAliveConfig: backendKeepAlive}
	conn, err := dialer.DialContext(ctx, target.Network, target.Address)
	if err != nil {
		return nil, d.openError(r, target, "dial", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if d.ProxyProtocol != 0 {
		if _, err := conn.Write(proxyHeader(d.ProxyProtocol, r)); err != nil {
			conn.Close()
			return nil, d.openError(r, target, "PROXY header", err)
		}
	}
	if d.TLS != nil {
		tc := tls.Client(conn, d.tlsConfig(target))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, d.openError(r, target, "TLS handshake", err)
		}
		conn = tc
	}
	_ = conn.SetDeadline(time.Time{})
	s := &connSession{conn: conn, grace: d.Grace}
	if sc, ok := conn.(syscall.Conn); ok {
		s.raw, _ = sc.SyscallConn()
	}
	s.idle.init(s.raw)
	return s, nil
}

// target is the fixed target, or the one the request's token names.
func (d *Dial) target(r *http.Request) (Target, error) {
	if d.Tokens == nil {
		return d.Target, nil
	}
	var token string
	if d.HostToken {
		token, _ = splitHost(r.Host, false)
	} else {
		token = r.URL.Query().Get("token")
	}
	if token == "" {
		if d.HostToken {
			return Target{}, &HTTPError{Status: http.StatusBadRequest, Message: "no host name to take the token from", Refusal: RefusedNotFound}
		}
		return Target{}, &HTTPError{Status: http.StatusBadRequest, Message: "no token: add ?token= to the URL", Refusal: RefusedNotFound}
	}
	return d.Tokens.Target(r.Context(), token, d.HostToken)
}

func (d *Dial) tlsConfig(t Target) *tls.Config {
	cfg := d.TLS
	if cfg.ServerName == "" && t.Network == "tcp" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(t.Address)
	}
	return cfg
}

// openError logs why the backend could not be reached and turns it into the
// client's answer: 504 when it did not answer in time, 503 when wsbridge is
// out of descriptors or memory, 502 otherwise. The
// client hears the kind of failure, never the target's address.
func (d *Dial) openError(r *http.Request, t Target, step string, err error) error {
	if outOfResources(err) { // such as EMFILE: wsbridge's limit, not the backend's fault
		d.Log.Error("cannot dial the backend now", "client", r.RemoteAddr, "target", t.String(), "step", step, "err", err)
		return busyError("cannot reach the backend now")
	}
	d.Log.Warn("backend unreachable", "client", r.RemoteAddr, "target", t.String(), "step", step, "err", err)
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return httpErrorf(http.StatusBadGateway, "the client left during the dial") // nobody reads this
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return httpErrorf(http.StatusGatewayTimeout, "backend did not answer within %v", d.Timeout)
	case errors.Is(err, errConnRefused):
		return httpErrorf(http.StatusBadGateway, "backend refused the connection")
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOENT):
		return httpErrorf(http.StatusBadGateway, "backend socket does not exist")
	case step == "TLS handshake":
		return httpErrorf(http.StatusBadGateway, "backend TLS handshake failed")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return httpErrorf(http.StatusBadGateway, "backend host name does not resolve")
	}
	return httpErrorf(http.StatusBadGateway, "cannot reach the backend")
}

// connSession is one backend connection as a Session.
type connSession struct {
	conn     net.Conn        // *net.TCPConn, *net.UnixConn or *tls.Conn
	raw      syscall.RawConn // conn's, for WaitRead; nil over TLS
	idle     idleRead        // reads output after a pause (unix)
	grace    time.Duration
	halfShut atomic.Bool // CloseWrite was called: the backend may still answer
	stopped  atomic.Bool
	mu       sync.Mutex
	ending   *Ending // set when reading ended
}

func (s *connSession) Read(p []byte) (int, error) {
	n, err := s.conn.Read(p)
	if err != nil {
		s.noteEnd(err)
	}
	return n, err
}

// noteEnd keeps the ending of the first read that failed.
func (s *connSession) noteEnd(err error) {
	s.mu.Lock()
	if s.ending == nil {
		e := s.endingFor(err)
		s.ending = &e
	}
	s.mu.Unlock()
}

func (s *connSession) Write(p []byte) (int, error) { return s.conn.Write(p) }

// WaitRead waits for the backend's data without a buffer; over TLS, whose
// records are read whole, it returns at once.
func (s *connSession) WaitRead() error {
	if s.raw != nil {
		return pollwait.RawReadable(s.raw)
	}
	return nil
}

func (s *connSession) CloseWrite() error {
	s.halfShut.Store(true)
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Stop ends the session: after CloseWrite, the backend's reply may follow for
// Grace; otherwise reading and writing end at once.
func (s *connSession) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	deadline := time.Now()
	if s.halfShut.Load() {
		deadline = deadline.Add(s.grace)
	}
	_ = s.conn.SetDeadline(deadline)
}

// Wait returns at once: the session ended when reading did. Called while
// reading has not ended, it means the client is gone.
func (s *connSession) Wait() Ending {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending == nil {
		return Ending{Code: wire.GoingAway, Status: "client gone"}
	}
	return *s.ending
}

func (s *connSession) Close() error { return s.conn.Close() }

// endingFor tells the client how the backend connection ended: its EOF is a
// normal close, a reset or any other error is 1014 (bad gateway).
func (s *connSession) endingFor(err error) Ending {
	switch {
	case err == io.EOF:
		return Ending{Code: wire.NormalClosure, Reason: "backend closed the connection", Status: "backend closed"}
	case errors.Is(err, os.ErrDeadlineExceeded) && s.stopped.Load():
		if s.halfShut.Load() {
			return Ending{Code: wire.NormalClosure, Reason: "backend did not finish in time", Status: "cut after the client's close"}
		}
		return Ending{Code: wire.NormalClosure, Status: "stopped"}
	case connReset(err):
		return Ending{Code: wire.BadGateway, Reason: "backend reset the connection", Status: "backend reset"}
	}
	return Ending{Code: wire.BadGateway, Reason: "backend error", Status: fmt.Sprintf("backend error: %v", unwrapOp(err))}
}
