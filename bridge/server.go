// Package bridge serves WebSockets: listeners, per-request checks, the
// upgrade, the two pumps between a WebSocket and a backend session, framing
// and close codes. How a process is started is the process package's job;
// bridge only says what to start and reads how it ended.
package bridge

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener is one place a Server listens: TCP addresses and a port, or a
// unix socket, each with its own TLS and redirect port. Every listener
// serves the same routes under the same Host policy.
type Listener struct {
	Addresses []string    // hosts or IPs to listen on; empty: loopback only
	Port      int         // 0 picks a free port
	Unix      string      // listen on this unix socket instead of TCP
	TLS       *tls.Config // nil: plain HTTP
	RedirPort int         // also listen here and redirect to Port
	// RedirHandler, if set, wraps the redirect (ACME answers HTTP-01
	// challenges there).
	RedirHandler func(http.Handler) http.Handler
}

// ListenError is a listener that could not be bound. It names the address
// or the socket, not where they came from: the caller names the flag or the
// config key by Listener and Redirect.
type ListenError struct {
	Listener int    // its index in Server.Listeners
	Redirect bool   // its RedirPort, not its Port
	Where    string // "listen on 127.0.0.1 port 8080", or the socket's path
	Err      error  // why, such as "address already in use"
}

func (e *ListenError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *ListenError) Unwrap() error { return e.Err }

// Server listens and serves its Routes. A request goes through the Host
// check, then the mux (the route with the longest matching path), then that
// route's checks, backend and pumps.
type Server struct {
	// Listeners are where the server listens; empty: loopback, a free port.
	Listeners []Listener
	// TrustedProxies may tell the client's address in X-Forwarded-For or
	// X-Real-IP; logs and backends see that address.
	TrustedProxies TrustedProxies
	// Hosts are the Host names the server answers to (DNS rebinding);
	// others get 421 before anything else happens.
	Hosts HostPolicy
	// Routes are the endpoints served; no two have the same Path (Validate).
	// A request that none matches is 404.
	Routes []*Route
	// MaxSessions bounds the sessions and CGI runs of all routes together,
	// over every listener; more get 429. 0: no limit (each route's own
	// MaxSessions still holds).
	MaxSessions int
	Log         *slog.Logger
	// Observer hears of refused requests and of sessions opened and ended;
	// nil: the access log (AccessLog(Log)). To add one, such as metrics,
	// and keep the log: Observers{AccessLog(Log), metrics}.
	Observer Observer
	// ShutdownGrace bounds shutdown: sessions still open after it are cut.
	ShutdownGrace time.Duration
	// HeaderTimeout bounds how long a client may take to send its request
	// headers; 0 means 10 seconds.
	HeaderTimeout time.Duration
	// Once serves one session: later ones get 503, and the server shuts
	// down when it ends (--once).
	Once bool
	// ExitNoConn shuts the server down when its last session ends
	// (--exit-no-conn).
	ExitNoConn bool

	bound []bound // one per listener, once Listen succeeded

	active   atomic.Int64 // sessions and CGI runs under way, for MaxSessions
	mu       sync.Mutex
	sessions map[*wsSession]struct{}
	cgiRuns  int // CGI scripts running; shutdown waits for them too
	closing  bool
	ended    chan struct{} // a session ended; buffered, for shutdown to recount

	onceTaken atomic.Bool   // Once: the one session has been accepted
	lastEnded chan struct{} // closed when Once or ExitNoConn says to stop
	stopOnce  sync.Once
}

// bound is a Listener's sockets: its port on each address (or its unix
// socket), and its redirect port on each address.
type bound struct {
	spec      *Listener
	listeners []net.Listener
	redirs    []net.Listener
}

// Handler is the server's HTTP handler, for tests and for embedding; call
// Validate first (Listen does).
func (s *Server) Handler() http.Handler {
	return s.Hosts.guard(newMux(s), s.observer(), s.TrustedProxies)
}

// observer is the Observer, or the access log by default.
func (s *Server) observer() Observer {
	if s.Observer != nil {
		return s.Observer
	}
	return AccessLog(s.Log)
}

// Listen checks the routes (Validate) and binds every listener, so that a
// port in use is an error before anything is served; on an error (a
// *ListenError) nothing is left bound.
func (s *Server) Listen() error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.lastEnded = make(chan struct{})
	if len(s.Listeners) == 0 {
		s.Listeners = []Listener{{}}
	}
	for i := range s.Listeners {
		b, err := s.listen(&s.Listeners[i])
		if err != nil {
			s.closeListeners()
			err.Listener = i
			return err
		}
		s.bound = append(s.bound, b)
	}
	return nil
}

// listen binds one listener: its unix socket, or its port and redirect port
// on each of its addresses.
func (s *Server) listen(spec *Listener) (bound, *ListenError) {
	b := bound{spec: spec}
	if spec.Unix != "" {
		l, err := listenUnix(spec.Unix)
		if err != nil {
			return b, err
		}
		b.listeners = []net.Listener{l}
		return b, nil
	}
	hosts := spec.Addresses
	loopbackDefault := len(hosts) == 0
	if loopbackDefault {
		hosts = []string{"127.0.0.1", "::1"}
	}
	for attempt := 1; ; attempt++ {
		ls, err := s.listenAll(hosts, spec.Port, loopbackDefault)
		if err == nil {
			b.listeners = ls
			break
		}
		// Port 0 lets the first address pick a free port, which a later one
		// may have taken: pick again.
		if spec.Port != 0 || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return b, err
		}
	}
	if spec.RedirPort != 0 {
		ls, err := s.listenAll(hosts, spec.RedirPort, loopbackDefault)
		if err != nil {
			for _, l := range b.listeners {
				l.Close()
			}
			err.Redirect = true
			return b, err
		}
		b.redirs = ls
	}
	return b, nil
}

// listenAll binds port on every host, all on the port the first one picked
// when port is 0; on an error it closes what it bound. With the default
// hosts, a machine without IPv6 loopback is served on 127.0.0.1 alone, but a
// port taken on ::1 is an error: a client of localhost could reach the other
// program.
func (s *Server) listenAll(hosts []string, port int, loopbackDefault bool) ([]net.Listener, *ListenError) {
	var ls []net.Listener
	for _, h := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			if loopbackDefault && h == "::1" && !errors.Is(err, syscall.EADDRINUSE) {
				s.Log.Debug("no IPv6 loopback", "err", err)
				continue
			}
			for _, l := range ls {
				l.Close()
			}
			return nil, &ListenError{Where: fmt.Sprintf("listen on %s port %d", h, port), Err: unwrapOp(err)}
		}
		port = l.Addr().(*net.TCPAddr).Port
		ls = append(ls, l)
	}
	return ls, nil
}

// listenUnix listens on a unix socket, replacing a stale socket file that
// nobody answers on but never a live one or another kind of file.
func listenUnix(path string) (net.Listener, *ListenError) {
	fail := func(err error) *ListenError { return &ListenError{Where: path, Err: err} }
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fail(errors.New("exists and is not a socket"))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fail(errors.New("another server is listening there"))
		}
		_ = os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fail(unwrapOp(err))
	}
	return l, nil // closing it removes the file
}

// URLs are where clients connect, one per socket, in the order of the
// listeners.
func (s *Server) URLs() []string {
	var urls []string
	for _, b := range s.bound {
		scheme := "ws"
		if b.spec.TLS != nil {
			scheme = "wss"
		}
		for _, l := range b.listeners {
			if l.Addr().Network() == "unix" {
				urls = append(urls, "unix:"+l.Addr().String())
			} else {
				urls = append(urls, scheme+"://"+l.Addr().String()+"/")
			}
		}
	}
	return urls
}

// Serve serves until ctx is done, then shuts down: no new connections, 1001
// to every client, every backend stopped, within ShutdownGrace.
func (s *Server) Serve(ctx context.Context) error {
	headerTimeout := cmp.Or(s.HeaderTimeout, 10*time.Second)
	// Requests' contexts end when shutdown begins: a CGI script still
	// running then is stopped by the ladder instead of holding shutdown.
	base, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           s.Handler(),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
	}
	servers := []*http.Server{srv}
	n := 0
	for _, b := range s.bound {
		n += len(b.listeners) + len(b.redirs)
	}
	errc := make(chan error, n)
	for _, b := range s.bound {
		for _, l := range b.listeners {
			if b.spec.TLS != nil {
				l = tls.NewListener(l, b.spec.TLS)
			}
			go func() { errc <- srv.Serve(l) }()
			if a, ok := l.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
				s.Log.Warn("listening beyond loopback: anyone who reaches this address can open a session", "address", a.String(), "tls", b.spec.TLS != nil)
			}
		}
		if len(b.redirs) == 0 {
			continue
		}
		// Each listener's redirect server: its scheme, its port, its ACME.
		var redirect http.Handler = http.HandlerFunc(b.redirect)
		if b.spec.RedirHandler != nil {
			redirect = b.spec.RedirHandler(redirect)
		}
		redir := &http.Server{
			Handler:           s.Hosts.guard(redirect, s.observer(), s.TrustedProxies),
			ReadHeaderTimeout: headerTimeout,
			ErrorLog:          srv.ErrorLog,
		}
		servers = append(servers, redir)
		for _, l := range b.redirs {
			go func() { errc <- redir.Serve(l) }()
		}
	}
	if s.Hosts.AllowAll {
		s.Log.Warn("answering any Host name (--allowed-host '*'): a page of any site whose name is pointed at this server (DNS rebinding) can open sessions")
	} else {
		s.Log.Info("answering host names", "names", s.Hosts.String())
	}
	for _, u := range s.URLs() {
		s.Log.Info("listening", "url", u)
		if !strings.HasPrefix(u, "ws") {
			continue
		}
		// What a person opens: each route's page, or its endpoint when it
		// is not the server's root.
		for _, r := range s.Routes {
			rel := strings.TrimPrefix(r.routePath(), "/")
			if r.Terminal != nil || r.DevConsole || r.StaticDir != "" {
				s.Log.Info("open in a browser", "url", "http"+strings.TrimPrefix(u, "ws")+rel, "route", r.routeName())
			} else if rel != "" {
				s.Log.Info("WebSocket endpoint", "url", u+rel, "route", r.routeName())
			}
		}
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	case <-s.lastEnded:
		s.Log.Info("the last session ended; exiting", "once", s.Once, "exit_no_conn", s.ExitNoConn)
	}
	endRequests()
	s.shutdown(servers...)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) shutdown(servers ...*http.Server) {
	deadline := time.Now().Add(s.ShutdownGrace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() { _ = srv.Shutdown(ctx) }) // stops accepting at once
	}

	s.mu.Lock()
	s.closing = true
	live := make([]*wsSession, 0, len(s.sessions))
	for ws := range s.sessions {
		live = append(live, ws)
	}
	s.mu.Unlock()
	s.Log.Info("shutting down", "sessions", len(live))
	// All at once: a close frame may wait up to closeWait behind output
	// blocked on a client that does not read, and must not delay the others.
	var goneAway sync.WaitGroup
	for _, ws := range live {
		goneAway.Go(ws.goingAway)
	}

	if !s.waitSessions(ctx.Done()) {
		s.Log.Warn("shutdown grace expired; cutting sessions")
		s.mu.Lock()
		for ws := range s.sessions {
			_ = ws.conn.Close()
		}
		s.mu.Unlock()
		for _, srv := range servers {
			_ = srv.Close() // a CGI run's client may be stuck too
		}
		s.waitSessions(nil)
	}
	goneAway.Wait()
	for _, srv := range servers {
		_ = srv.Close()
	}
	wg.Wait()
}

// waitSessions waits until no session is left, or until stop; it says
// whether none is left.
func (s *Server) waitSessions(stop <-chan struct{}) bool {
	for {
		s.mu.Lock()
		n, ended := len(s.sessions)+s.cgiRuns, s.ended
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ended:
		case <-stop:
			return false
		}
	}
}

// acquire and release count sessions and CGI runs against MaxSessions (see
// admission).
func (s *Server) acquire() bool {
	if n := s.active.Add(1); s.MaxSessions > 0 && n > int64(s.MaxSessions) {
		s.active.Add(-1)
		return false
	}
	return true
}

func (s *Server) release() { s.active.Add(-1) }

// admit and unadmit hold --once's one session (see admission).
func (s *Server) admit() bool { return !s.Once || s.onceTaken.CompareAndSwap(false, true) }

func (s *Server) unadmit() {
	if s.Once {
		s.onceTaken.Store(false)
	}
}

// track registers a live session; false means the server is shutting down
// (the session is tracked all the same, so shutdown waits for it).
func (s *Server) track(ws *wsSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.sessions[ws] = struct{}{}
	return !s.closing
}

func (s *Server) initLocked() {
	if s.sessions == nil {
		s.sessions = make(map[*wsSession]struct{})
		s.ended = make(chan struct{}, 1)
	}
}

// cgiStarted and cgiEnded count CGI runs, for shutdown to wait for.
func (s *Server) cgiStarted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.cgiRuns++
}

func (s *Server) cgiEnded() {
	s.mu.Lock()
	s.cgiRuns--
	s.mu.Unlock()
	select {
	case s.ended <- struct{}{}:
	default:
	}
}

func (s *Server) untrack(ws *wsSession) {
	s.mu.Lock()
	delete(s.sessions, ws)
	last := len(s.sessions) == 0
	s.mu.Unlock()
	if s.Once || (s.ExitNoConn && last) {
		s.stopOnce.Do(func() { close(s.lastEnded) })
	}
	select {
	case s.ended <- struct{}{}:
	default:
	}
}

// redirect sends requests on b's redirect port to the same path on its
// port (--redirport).
func (b *bound) redirect(w http.ResponseWriter, r *http.Request) {
	host, _ := splitHost(r.Host, false)
	scheme := "http"
	if b.spec.TLS != nil {
		scheme = "https"
	}
	port := b.spec.Port
	if a, ok := b.listeners[0].Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	target := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

func (s *Server) closeListeners() {
	for _, b := range s.bound {
		for _, l := range append(b.listeners, b.redirs...) {
			l.Close()
		}
	}
	s.bound = nil
}

// unwrapOp drops net.OpError's repetition of the address we already name.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err
		}
		return op.Err
	}
	return err
}
