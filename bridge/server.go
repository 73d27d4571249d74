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
	"time"
)

// Listener is one place a Server listens: TCP addresses and a port, or a
// unix socket, or sockets already listening, each with its own TLS and
// redirect port. Every listener serves the same routes under the same Host
// policy.
type Listener struct {
	Addresses []string    // hosts or IPs to listen on; empty: loopback only
	Port      int         // 0 picks a free port
	Unix      string      // listen on this unix socket instead of TCP
	TLS       *tls.Config // nil: plain HTTP
	RedirPort int         // also listen here and redirect to Port
	// RedirHandler, if set, wraps the redirect (ACME answers HTTP-01
	// challenges there).
	RedirHandler func(http.Handler) http.Handler
	// Inherited are sockets already listening (systemd's socket
	// activation): served instead of Addresses, Port and Unix, and closed
	// at shutdown. They have no RedirPort.
	Inherited []net.Listener
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
	// DrainTimeout bounds a drain (see Drain), from its start; 0: Drain
	// shuts down at once, as the end of Serve's ctx does.
	DrainTimeout time.Duration
	// DrainDelay is how long a drain still serves new requests, so that a
	// load balancer sees the server is not ready before it gets 503s.
	DrainDelay time.Duration
	// OnReady, if set, is called once Serve serves every listener (for
	// systemd's READY=1); OnStopping when its shutdown begins (STOPPING=1).
	OnReady, OnStopping func()

	bound []bound     // one per listener, once Listen succeeded
	ready atomic.Bool // see Ready

	routing   atomic.Pointer[routing] // what requests are served by (Reload)
	reloading sync.Mutex              // serializes Reload

	active       atomic.Int64 // sessions and CGI runs under way, for MaxSessions
	mu           sync.Mutex
	sessions     map[*wsSession]struct{}
	held         int  // CGI runs and sessions being upgraded (hold); shutdown waits for them too
	sessionEnded bool // a session has ended, for ExitNoConn
	closing      bool
	ended        chan struct{} // a session ended; buffered, for shutdown to recount

	onceTaken atomic.Bool   // Once: the one session has been accepted
	lastEnded chan struct{} // closed when Once or ExitNoConn says to stop
	stopOnce  sync.Once

	drainAsked chan struct{} // closed by Drain
	drainOnce  sync.Once
	draining   atomic.Bool // Drain was called: not ready
	refusing   atomic.Bool // the drain's delay is over: new requests get 503

	lasting []lastingBackend // every route's, for shutdown to end (Serve, Reload)
	retired map[lastingBackend]bool
}

// bound is a Listener's sockets: its port on each address (or its unix
// socket), and its redirect port on each address.
type bound struct {
	spec      *Listener
	listeners []net.Listener
	redirs    []net.Listener
}

// Handler is the server's HTTP handler, for tests and for embedding; call
// Validate first (Listen does). It serves the routes of the last Reload.
func (s *Server) Handler() http.Handler {
	s.current()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.current().handler.ServeHTTP(w, r)
	})
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
// *ListenError) nothing is left bound, and inherited sockets are closed.
func (s *Server) Listen() error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.lastEnded = make(chan struct{})
	s.drainAsked = make(chan struct{})
	if len(s.Listeners) == 0 {
		s.Listeners = []Listener{{}}
	}
	for i := range s.Listeners {
		b, err := s.listen(&s.Listeners[i])
		if err != nil {
			s.closeListeners()
			for _, spec := range s.Listeners {
				for _, l := range spec.Inherited {
					l.Close() // they were the server's to close
				}
			}
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
	if len(spec.Inherited) > 0 {
		if spec.RedirPort != 0 {
			return b, &ListenError{Redirect: true, Where: fmt.Sprintf("redirect port %d", spec.RedirPort), Err: errors.New("inherited sockets have no redirect port")}
		}
		b.listeners = spec.Inherited
		return b, nil
	}
	if spec.Unix != "" {
		l, err := listenUnix(spec.Unix)
		if err != nil {
			return b, err
		}
		b.listeners = []net.Listener{l}
		return b, nil
	}
	ls, err := listenTCP(spec.Addresses, spec.Port, s.Log)
	if err != nil {
		return b, err
	}
	b.listeners = ls
	if spec.RedirPort != 0 {
		hosts, loopbackDefault := spec.Addresses, len(spec.Addresses) == 0
		if loopbackDefault {
			hosts = loopback
		}
		ls, err := listenAll(hosts, spec.RedirPort, loopbackDefault, s.Log)
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

// loopback is where a listener without addresses listens.
var loopback = []string{"127.0.0.1", "::1"}

// ListenTCP binds port on every one of hosts (none: loopback, 127.0.0.1
// and ::1) as a Listener's port is bound: port 0 picks one free port for
// them all; on an error (a *ListenError) nothing is left bound.
func ListenTCP(hosts []string, port int, log *slog.Logger) ([]net.Listener, error) {
	ls, err := listenTCP(hosts, port, log)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

func listenTCP(hosts []string, port int, log *slog.Logger) ([]net.Listener, *ListenError) {
	loopbackDefault := len(hosts) == 0
	if loopbackDefault {
		hosts = loopback
	}
	for attempt := 1; ; attempt++ {
		ls, err := listenAll(hosts, port, loopbackDefault, log)
		// Port 0 lets the first address pick a free port, which a later one
		// may have taken: pick again.
		if err == nil || port != 0 || attempt == 10 || !errors.Is(err, errAddrInUse) {
			return ls, err
		}
	}
}

// listenAll binds port on every host, all on the port the first one picked
// when port is 0; on an error it closes what it bound. With the default
// hosts, a machine without IPv6 loopback is served on 127.0.0.1 alone, but a
// port taken on ::1 is an error: a client of localhost could reach the other
// program.
func listenAll(hosts []string, port int, loopbackDefault bool, log *slog.Logger) ([]net.Listener, *ListenError) {
	var ls []net.Listener
	for _, h := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			if loopbackDefault && h == "::1" && !errors.Is(err, errAddrInUse) {
				log.Debug("no IPv6 loopback", "err", err)
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

// Ready says whether the server serves: true once Serve serves every
// listener, false again as soon as a drain or shutdown begins (for a
// readiness probe).
func (s *Server) Ready() bool { return s.ready.Load() && !s.draining.Load() }

// Serve serves until ctx is done, then shuts down: no new connections, 1001
// to every client, every backend stopped, within ShutdownGrace. Drain asks
// for a gentler end.
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
	s.beginLasting(s.Routes)
	defer s.endLasting()
	servers := []*http.Server{srv}
	n := 0
	for _, b := range s.bound {
		n += len(b.listeners) + len(b.redirs)
	}
	errc := make(chan error, n)
	for i, b := range s.bound {
		// Each handshake takes the listener's TLS as of now (Reload).
		tlsConfig := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current().tlsConfig(i, b.spec), nil
		}}
		for _, l := range b.listeners {
			if b.spec.TLS != nil {
				l = tls.NewListener(l, tlsConfig)
			}
			go func() { errc <- srv.Serve(l) }()
			if a, ok := l.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
				s.Log.Warn("listening beyond loopback: anyone who reaches this address can open a session", "address", a.String(), "tls", b.spec.TLS != nil)
			}
		}
		if len(b.redirs) == 0 {
			continue
		}
		// Each listener's redirect server, by the routing of now.
		redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.current().redirect(i, &b).ServeHTTP(w, r)
		})
		redir := &http.Server{
			Handler:           redirect,
			ReadHeaderTimeout: headerTimeout,
			ErrorLog:          srv.ErrorLog,
		}
		servers = append(servers, redir)
		for _, l := range b.redirs {
			go func() { errc <- redir.Serve(l) }()
		}
	}
	s.ready.Store(true)
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

	if s.OnReady != nil {
		s.OnReady()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	case <-s.lastEnded:
		s.Log.Info("the last session ended; exiting", "once", s.Once, "exit_no_conn", s.ExitNoConn)
	case <-s.drainAsked:
		if s.DrainTimeout > 0 {
			err = s.drain(ctx, errc)
		}
	}
	if s.OnStopping != nil {
		s.OnStopping()
	}
	endRequests()
	s.shutdown(servers...)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Drain begins a drain, for a rolling restart: the server is not ready at
// once (Draining), serves new requests for DrainDelay more so that load
// balancers notice, then answers them 503 with Retry-After. Live sessions
// get until DrainTimeout (counted from now) to end on their own; Serve then
// shuts down as when its ctx ends, and sooner when no session is left after
// the delay. Without a DrainTimeout it is that shutdown, at once. The end of
// Serve's ctx during a drain ends it at once. Call it after Listen; a second
// call does nothing.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		close(s.drainAsked)
	})
}

// Draining says whether Drain was called: a server that drains is not
// ready for new sessions.
func (s *Server) Draining() bool { return s.draining.Load() }

// drain runs a drain (see Drain) until no session is left after the delay,
// the timeout, ctx's end, or a listener's error (which it returns).
func (s *Server) drain(ctx context.Context, errc <-chan error) error {
	timeout := time.NewTimer(s.DrainTimeout)
	defer timeout.Stop()
	delay := time.NewTimer(s.DrainDelay)
	defer delay.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	s.Log.Info("draining: not ready; new requests served for the delay, then refused with 503", "sessions", s.live(), "delay", s.DrainDelay, "timeout", s.DrainTimeout)
	for {
		n := s.live()
		if n == 0 && s.refusing.Load() {
			s.Log.Info("drained: no session left")
			return nil
		}
		s.mu.Lock()
		s.initLocked()
		ended := s.ended
		s.mu.Unlock()
		select {
		case <-ended:
		case <-delay.C:
			s.refusing.Store(true)
			s.Log.Info("draining: refusing new requests with 503", "sessions", n)
		case <-progress.C:
			s.Log.Info("draining", "sessions", n)
		case <-timeout.C:
			s.Log.Info("drain timeout: going away", "sessions", n)
			return nil
		case <-s.lastEnded:
			s.Log.Info("the last session ended; exiting", "once", s.Once, "exit_no_conn", s.ExitNoConn)
			return nil
		case <-ctx.Done():
			s.Log.Info("drain cut short: shutting down now", "sessions", n)
			return nil
		case err := <-errc:
			return err
		}
	}
}

// live counts sessions and CGI runs under way.
func (s *Server) live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions) + s.held
}

func (s *Server) shutdown(servers ...*http.Server) {
	s.ready.Store(false)
	deadline := time.Now().Add(s.current().shutdownGrace)
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
		n, ended := len(s.sessions)+s.held, s.ended
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
	if n, most := s.active.Add(1), s.current().maxSessions; most > 0 && n > int64(most) {
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

// hold and unhold count CGI runs and sessions being upgraded, for shutdown
// to wait for (see admission).
func (s *Server) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.held++
}

func (s *Server) unhold() {
	s.mu.Lock()
	s.held--
	last := s.sessionEnded && len(s.sessions) == 0 && s.held == 0
	s.mu.Unlock()
	if s.ExitNoConn && last { // a session ended while this one was held
		s.stopOnce.Do(func() { close(s.lastEnded) })
	}
	select {
	case s.ended <- struct{}{}:
	default:
	}
}

func (s *Server) untrack(ws *wsSession) {
	s.mu.Lock()
	delete(s.sessions, ws)
	s.sessionEnded = true
	// A session being upgraded (held) is not the last one's end yet.
	last := len(s.sessions) == 0 && s.held == 0
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
