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

// Server listens and serves its Routes. A request goes through the Host
// check, then the mux (the route with the longest matching path), then that
// route's checks, backend and pumps.
type Server struct {
	Addresses  []string    // hosts or IPs to listen on; empty: loopback only
	Port       int         // 0 picks a free port
	UnixSocket string      // listen here instead of TCP
	TLS        *tls.Config // nil: plain HTTP
	RedirPort  int         // also listen here and redirect to the main port
	// RedirHandler, if set, wraps the redirect (ACME answers HTTP-01
	// challenges there).
	RedirHandler func(http.Handler) http.Handler
	// TrustedProxies may tell the client's address in X-Forwarded-For or
	// X-Real-IP; logs and backends see that address.
	TrustedProxies TrustedProxies
	// Hosts are the Host names the server answers to (DNS rebinding);
	// others get 421 before anything else happens.
	Hosts HostPolicy
	// Routes are the endpoints served; no two have the same Path (Validate).
	// A request that none matches is 404.
	Routes []*Route
	Log    *slog.Logger
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

	listeners []net.Listener
	redirs    []net.Listener

	mu       sync.Mutex
	sessions map[*wsSession]struct{}
	cgiRuns  int // CGI scripts running; shutdown waits for them too
	closing  bool
	ended    chan struct{} // a session ended; buffered, for shutdown to recount

	onceTaken atomic.Bool   // Once: the one session has been accepted
	lastEnded chan struct{} // closed when Once or ExitNoConn says to stop
	stopOnce  sync.Once
}

// Handler is the server's HTTP handler, for tests and for embedding; call
// Validate first (Listen does).
func (s *Server) Handler() http.Handler {
	return s.Hosts.guard(newMux(s), s.Log)
}

// Listen checks the routes (Validate) and binds every listener, so that a
// port in use is an error before anything is served.
func (s *Server) Listen() error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.lastEnded = make(chan struct{})
	if s.UnixSocket != "" {
		l, err := listenUnix(s.UnixSocket)
		if err != nil {
			return err
		}
		s.listeners = append(s.listeners, l)
		return nil
	}
	hosts := s.Addresses
	loopbackDefault := len(hosts) == 0
	if loopbackDefault {
		hosts = []string{"127.0.0.1", "::1"}
	}
	for attempt := 1; ; attempt++ {
		ls, err := s.listenAll(hosts, s.Port, loopbackDefault, "")
		if err == nil {
			s.listeners = ls
			break
		}
		// Port 0 lets the first address pick a free port, which a later one
		// may have taken: pick again.
		if s.Port != 0 || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
	if s.RedirPort != 0 {
		ls, err := s.listenAll(hosts, s.RedirPort, loopbackDefault, " (--redirport)")
		if err != nil {
			s.closeListeners()
			return err
		}
		s.redirs = ls
	}
	return nil
}

// listenAll binds port on every host, all on the port the first one picked
// when port is 0; on an error it closes what it bound. With the default
// hosts, a machine without IPv6 loopback is served on 127.0.0.1 alone, but a
// port taken on ::1 is an error: a client of localhost could reach the other
// program. flag names the flag the port came from, for the error.
func (s *Server) listenAll(hosts []string, port int, loopbackDefault bool, flag string) ([]net.Listener, error) {
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
			return nil, fmt.Errorf("listen on %s port %d%s: %w", h, port, flag, unwrapOp(err))
		}
		port = l.Addr().(*net.TCPAddr).Port
		ls = append(ls, l)
	}
	return ls, nil
}

// listenUnix listens on a unix socket, replacing a stale socket file that
// nobody answers on but never a live one or another kind of file.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("--unixsocket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("--unixsocket %s: another server is listening there", path)
		}
		_ = os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--unixsocket %s: %w", path, unwrapOp(err))
	}
	return l, nil // closing it removes the file
}

// URLs are where clients connect, one per listener.
func (s *Server) URLs() []string {
	scheme := "ws"
	if s.TLS != nil {
		scheme = "wss"
	}
	var urls []string
	for _, l := range s.listeners {
		if l.Addr().Network() == "unix" {
			urls = append(urls, "unix:"+l.Addr().String())
		} else {
			urls = append(urls, scheme+"://"+l.Addr().String()+"/")
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
	var redirect http.Handler = http.HandlerFunc(s.redirect)
	if s.RedirHandler != nil {
		redirect = s.RedirHandler(redirect)
	}
	redirect = s.Hosts.guard(redirect, s.Log)
	redir := &http.Server{
		Handler:           redirect,
		ReadHeaderTimeout: headerTimeout,
		ErrorLog:          srv.ErrorLog,
	}
	errc := make(chan error, len(s.listeners)+len(s.redirs))
	for _, l := range s.listeners {
		if s.TLS != nil {
			l = tls.NewListener(l, s.TLS)
		}
		go func() { errc <- srv.Serve(l) }()
	}
	for _, l := range s.redirs {
		go func() { errc <- redir.Serve(l) }()
	}
	for _, l := range s.listeners {
		if a, ok := l.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
			s.Log.Warn("listening beyond loopback: anyone who reaches this address can open a session", "address", a.String(), "tls", s.TLS != nil)
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
	s.shutdown(srv, redir)
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

// redirect sends --redirport requests to the same path on the main port.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	host, _ := splitHost(r.Host, false)
	scheme := "http"
	if s.TLS != nil {
		scheme = "https"
	}
	port := s.Port
	if len(s.listeners) > 0 {
		if a, ok := s.listeners[0].Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	target := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

func (s *Server) closeListeners() {
	for _, l := range append(s.listeners, s.redirs...) {
		l.Close()
	}
	s.listeners, s.redirs = nil, nil
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
