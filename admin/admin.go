// Package admin serves a server's operations endpoints on a listener of
// its own, apart from the WebSocket listeners and their routes, Host check
// and auth: /metrics, /healthz and /readyz. It has no auth of its own, so
// a bare port listens on loopback only.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
)

// ParseAddress reads an admin address: "HOST:PORT", or a bare port ("9090"
// or ":9090") for loopback only (127.0.0.1 and ::1), which hosts nil says.
func ParseAddress(s string) (hosts []string, port int, err error) {
	host, p := "", s
	if strings.Contains(s, ":") {
		if host, p, err = net.SplitHostPort(s); err != nil {
			return nil, 0, fmt.Errorf("%q is not HOST:PORT or a port", s)
		}
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return nil, 0, fmt.Errorf("%q: %q is not a port (0-65535)", s, p)
	}
	if host != "" {
		hosts = []string{host}
	}
	return hosts, port, nil
}

// Handler serves metrics at /metrics, 200 at /healthz while the process
// serves at all, and at /readyz 200 while ready says so, else 503.
func Handler(metrics http.Handler, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Server is the admin listener: bound by Listen, served by Serve until
// Close. A nil *Server is none: Serve and Close do nothing.
type Server struct {
	listeners []net.Listener
	handler   http.Handler
	log       *slog.Logger
	srv       *http.Server
	wg        sync.WaitGroup
}

// Listen binds address (see ParseAddress) for h, so that a port in use is
// an error (a *bridge.ListenError) before anything is served.
func Listen(address string, h http.Handler, log *slog.Logger) (*Server, error) {
	hosts, port, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	ls, err := bridge.ListenTCP(hosts, port, log)
	if err != nil {
		return nil, err
	}
	return &Server{listeners: ls, handler: h, log: log}, nil
}

// URLs are the listeners' base URLs, such as http://127.0.0.1:9090/.
func (a *Server) URLs() []string {
	var urls []string
	for _, l := range a.listeners {
		urls = append(urls, "http://"+l.Addr().String()+"/")
	}
	return urls
}

// Serve serves on every listener in the background, until Close.
func (a *Server) Serve() {
	if a == nil {
		return
	}
	a.srv = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	for _, l := range a.listeners {
		if t, ok := l.Addr().(*net.TCPAddr); ok && !t.IP.IsLoopback() {
			a.log.Warn("admin listener beyond loopback: anyone who reaches this address can read the metrics (there is no auth)", "address", t.String())
		}
		a.log.Info("admin listening", "url", "http://"+l.Addr().String()+"/", "paths", "/metrics /healthz /readyz")
		a.wg.Go(func() {
			if err := a.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("admin listener failed", "err", err)
			}
		})
	}
}

// Close stops serving, giving requests under way a few seconds, and
// releases the listeners.
func (a *Server) Close() {
	if a == nil {
		return
	}
	if a.srv == nil {
		for _, l := range a.listeners {
			l.Close()
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.srv.Shutdown(ctx) != nil {
		a.srv.Close()
	}
	a.wg.Wait()
}
