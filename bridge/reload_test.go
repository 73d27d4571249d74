package bridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// catAt is a cat route named name at path.
func catAt(name, path string, log *slog.Logger) *Route {
	return &Route{Name: name, Path: path, Backend: &Exec{Program: Program{Command: "/bin/cat", Log: log}}, MaxMessage: 1 << 10}
}

// wsStatus is what a WebSocket handshake on url gets: 101, or the refusal's
// status; the connection, if any, is the caller's.
func wsStatus(t *testing.T, url string) (int, *websocket.Conn) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		return http.StatusSwitchingProtocols, c
	}
	if resp == nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, nil
}

// echoes checks that c's cat echoes msg.
func echoes(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	c.WriteMessage(websocket.TextMessage, []byte(msg))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q %v", msg, got, err)
	}
}

// TestReloadSwapsRoutes: after Reload a request sees the new routes, and a
// session of a route the reload removed goes on and ends normally.
func TestReloadSwapsRoutes(t *testing.T) {
	var srv *Server
	addr, _ := serve(t, func(s *Server) {
		srv = s
		s.Routes = []*Route{catAt("x", "/x", s.Log)}
	})
	status, old := wsStatus(t, "ws://"+addr+"/x")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/x before the reload: %d", status)
	}
	defer old.Close()
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("y", "/y", srv.Log)}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := wsStatus(t, "ws://"+addr+"/x"); status != http.StatusNotFound {
		t.Errorf("/x after the reload: %d, want 404", status)
	}
	status, y := wsStatus(t, "ws://"+addr+"/y")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/y after the reload: %d", status)
	}
	echoes(t, y, "on y")
	y.Close()
	echoes(t, old, "still on x")
	old.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if _, _, err := old.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("the old session's close: %v", err)
	}
}

// TestReloadShutdownWaitsForRemovedRoute: shutdown sends 1001 to a session
// of a route that a reload removed, and waits for it.
func TestReloadShutdownWaitsForRemovedRoute(t *testing.T) {
	var srv *Server
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		srv = s
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.Routes = []*Route{catAt("x", "/x", s.Log)}
	})
	status, old := wsStatus(t, "ws://"+addr+"/x")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/x: %d", status)
	}
	defer old.Close()
	echoes(t, old, "tracked") // the session runs: shutdown knows of it
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("y", "/y", srv.Log)}, ShutdownGrace: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := old.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	stop()
	select {
	case err := <-closed:
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("the removed route's session got %v, want 1001\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("the removed route's session got no close")
	}
	if l := logLines(t, logs.String(), "shutting down"); len(l) != 1 || l[0]["sessions"] != 1.0 {
		t.Errorf("shutting down lines: %v, want one with 1 session", l)
	}
	if l := logLines(t, logs.String(), "session"); len(l) != 1 || l[0]["route"] != "x" {
		t.Errorf("session lines: %v, want x's", l)
	}
}

// TestReloadKeepsSessionCounts: a route that stays, by name or by path,
// and the server as a whole keep counting the sessions under way, so a
// reload lets no route exceed its MaxSessions.
func TestReloadKeepsSessionCounts(t *testing.T) {
	var srv *Server
	addr, _ := serve(t, func(s *Server) {
		srv = s
		s.MaxSessions = 2
		s.Routes = []*Route{catAt("a", "/a", s.Log), catAt("b", "/b", s.Log), catAt("c", "/c", s.Log)}
		s.Routes[0].MaxSessions = 1
		s.Routes[1].MaxSessions = 1
	})
	for _, p := range []string{"/a", "/b"} {
		status, c := wsStatus(t, "ws://"+addr+p)
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("%s: %d", p, status)
		}
		defer c.Close()
	}
	// a stays by its name on a new path, b by its path under a new name.
	next := &Server{MaxSessions: 3, Routes: []*Route{catAt("a", "/a2", srv.Log), catAt("b2", "/b", srv.Log), catAt("c", "/c", srv.Log)}}
	next.Routes[0].MaxSessions = 1
	next.Routes[1].MaxSessions = 1
	if _, err := srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a2", "/b"} {
		if status, _ := wsStatus(t, "ws://"+addr+p); status != http.StatusTooManyRequests {
			t.Errorf("%s after the reload: %d, want 429 (its one session is under way)", p, status)
		}
	}
	status, c := wsStatus(t, "ws://"+addr+"/c")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/c: %d", status)
	}
	defer c.Close()
	// The server's limit counts the two sessions from before the reload.
	if status, _ := wsStatus(t, "ws://"+addr+"/c"); status != http.StatusTooManyRequests {
		t.Errorf("a fourth session: %d, want 429 (the server's 3 are under way)", status)
	}
}

// TestReloadRejectsInvalid: a Reload that fails Validate changes nothing.
func TestReloadRejectsInvalid(t *testing.T) {
	var srv *Server
	addr, _ := serve(t, func(s *Server) {
		srv = s
		s.Routes = []*Route{catAt("x", "/x", s.Log)}
	})
	if _, err := srv.Reload(&Server{Routes: []*Route{catAt("y", "/y", srv.Log), catAt("z", "/y", srv.Log)}}); err == nil {
		t.Fatal("two routes on /y reloaded")
	}
	status, c := wsStatus(t, "ws://"+addr+"/x")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/x after a failed reload: %d", status)
	}
	c.Close()
}

// TestReloadConcurrent: reloads while clients connect (run with -race);
// the last reload is what is served, and every session ends.
func TestReloadConcurrent(t *testing.T) {
	var srv *Server
	addr, stop := serve(t, func(s *Server) {
		srv = s
		s.Routes = []*Route{catAt("r", "/r", s.Log)}
		s.Routes[0].MaxSessions = 4
	})
	reload := func(mark string) {
		r := catAt("r", "/r", srv.Log)
		r.MaxSessions = 4
		r.Header = http.Header{"X-Reload": {mark}}
		if _, err := srv.Reload(&Server{Routes: []*Route{r}, ShutdownGrace: 5 * time.Second}); err != nil {
			t.Error(err)
		}
	}
	done := make(chan struct{})
	var reloads sync.WaitGroup
	reloads.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				reload("during")
			}
		}
	})
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for range 10 {
				c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/r", nil)
				switch {
				case err == nil:
					c.WriteMessage(websocket.TextMessage, []byte("hi"))
					if _, got, err := c.ReadMessage(); err != nil || string(got) != "hi" {
						t.Errorf("echo during reloads: %q %v", got, err)
					}
					c.Close()
				case resp == nil || resp.StatusCode != http.StatusTooManyRequests:
					t.Errorf("/r during reloads: %v", err)
					return
				}
			}
		})
	}
	clients.Wait()
	close(done)
	reloads.Wait()
	reload("last")
	if got := get(t, "http://"+addr+"/r").Header.Get("X-Reload"); got != "last" {
		t.Errorf("served after the reloads: X-Reload %q, want last", got)
	}
	stop()
}

// testCert is a self-signed certificate for localhost with this serial.
func testCert(t *testing.T, serial int64) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// servedSerial is the serial of the certificate addr's TLS serves.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestReloadTLS: a TLS listener serves the reloaded certificate; a listener
// that would change from TLS to plain needs a restart and keeps its TLS.
func TestReloadTLS(t *testing.T) {
	var srv *Server
	addr, _ := serve(t, func(s *Server) {
		srv = s
		s.Listeners[0].TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t, 1)}}
	})
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d before the reload", got)
	}
	spec := srv.Listeners[0]
	spec.TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t, 2)}}
	restart, err := srv.Reload(&Server{Listeners: []Listener{spec}, Routes: srv.Routes})
	if err != nil || len(restart) != 0 {
		t.Fatalf("Reload: restart %v, %v", restart, err)
	}
	if got := servedSerial(t, addr); got != 2 {
		t.Errorf("serial %d after the reload, want 2", got)
	}
	spec.TLS = nil
	moved := Listener{Addresses: []string{"127.0.0.1"}, Port: 1}
	restart, err = srv.Reload(&Server{Listeners: []Listener{spec, moved}, Routes: srv.Routes})
	if err != nil || !slices.Equal(restart, []int{0, 1}) {
		t.Fatalf("Reload to plain, and a new listener: restart %v (want [0 1]), %v", restart, err)
	}
	if got := servedSerial(t, addr); got != 2 {
		t.Errorf("serial %d after a reload to plain, want 2 still", got)
	}
}

// TestReloadShutdownGrace: shutdown is bounded by the reloaded grace. The
// client reads no more, so its session ends only when the grace cuts it.
func TestReloadShutdownGrace(t *testing.T) {
	var srv *Server
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		srv = s
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.ShutdownGrace = time.Hour
	})
	status, c := wsStatus(t, "ws://"+addr+"/")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/: %d", status)
	}
	defer c.Close()
	echoes(t, c, "tracked") // the session runs: shutdown knows of it
	if _, err := srv.Reload(&Server{Routes: srv.Routes, ShutdownGrace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	stop()
	if l := logLines(t, logs.String(), "shutdown grace expired; cutting sessions"); len(l) != 1 {
		t.Errorf("no grace expired line: the reloaded grace was not used\n%s", logs.String())
	}
}

// TestReloadRedirect: a listener's redirect port follows the reload: its
// wrapper (ACME's challenges) and the Host names answered.
func TestReloadRedirect(t *testing.T) {
	wrap := func(mark string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Wrapper", mark)
				h.ServeHTTP(w, r)
			})
		}
	}
	var srv *Server
	for try := 0; srv == nil; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		s := &Server{
			Listeners:     []Listener{{Addresses: []string{"127.0.0.1"}, RedirPort: port, RedirHandler: wrap("first")}},
			Log:           slog.New(slog.DiscardHandler),
			ShutdownGrace: 5 * time.Second,
			Routes:        []*Route{catAt("cat", "/", slog.New(slog.DiscardHandler))},
		}
		err = s.Listen()
		var le *ListenError
		if errors.As(err, &le) && errors.Is(err, syscall.EADDRINUSE) && try < 5 {
			continue // taken since it was free
		}
		if err != nil {
			t.Fatal(err)
		}
		srv = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	redir := fmt.Sprintf("http://127.0.0.1:%d/x", srv.Listeners[0].RedirPort)

	req := func(host string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest("GET", redir, nil)
		r.Host = host
		resp, err := noRedirect.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := req("localhost"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("X-Wrapper") != "first" {
		t.Fatalf("before the reload: %d, wrapper %q", resp.StatusCode, resp.Header.Get("X-Wrapper"))
	}
	if resp := req("example.com"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("example.com before the reload: %d, want 421", resp.StatusCode)
	}
	next := &Server{Listeners: []Listener{srv.Listeners[0]}, Routes: srv.Routes, Hosts: HostPolicy{Names: []string{"example.com"}}}
	next.Listeners[0].RedirHandler = wrap("second")
	if restart, err := srv.Reload(next); err != nil || len(restart) != 0 {
		t.Fatalf("Reload: restart %v, %v", restart, err)
	}
	if resp := req("example.com"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("X-Wrapper") != "second" {
		t.Errorf("after the reload: %d, wrapper %q; want 301 by the second", resp.StatusCode, resp.Header.Get("X-Wrapper"))
	}
}
