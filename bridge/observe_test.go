package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/wire"
)

// recorder is an Observer that hands every event to the test, in the order
// the server reported them.
type recorder struct{ events chan any }

func newRecorder() *recorder { return &recorder{events: make(chan any, 100)} }

func (r *recorder) Refused(e RefusedEvent) {
	e.Request = nil // not to be kept
	r.events <- e
}
func (r *recorder) Opened(e SessionEvent) { r.events <- e }
func (r *recorder) Ended(e EndedEvent)    { r.events <- e }

// next is the next event, waited for: every test step that precedes it has
// happened, so it comes.
func (r *recorder) next(t *testing.T) any {
	t.Helper()
	return <-r.events
}

// catRoute is a route of cat at /c/ for one session at a time.
func catRoute(log *slog.Logger) *Route {
	return &Route{
		Name:        "cat",
		Path:        "/c/",
		Backend:     &Exec{Program: Program{Command: "/bin/cat", Log: log}},
		MaxMessage:  1 << 10,
		MaxSessions: 1,
	}
}

// TestObserverEvents: an Observer in place of the access log hears a
// refused origin, a 404, a session opened, a 429 while it runs, and its end
// (how, bytes each way, its route), in that order; the log gets none of it.
func TestObserverEvents(t *testing.T) {
	rec := newRecorder()
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.Observer = rec
		s.Routes = []*Route{catRoute(s.Log)}
	})
	refused := func(path string, header http.Header, status int, want RefusedEvent) {
		t.Helper()
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, header)
		if err == nil || resp.StatusCode != status {
			t.Fatalf("%s: %v, want %d", path, err, status)
		}
		got, ok := rec.next(t).(RefusedEvent)
		if got.Client == "" || !got.Upgrade {
			t.Errorf("%s: %+v has no client or is not an upgrade", path, got)
		}
		got.Client, got.Upgrade = "", false
		if !ok || got != want {
			t.Errorf("%s: event %+v, want %+v", path, got, want)
		}
	}

	refused("/c/", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden,
		RefusedEvent{Reason: RefusedOrigin, Route: "cat", Path: "/"})
	refused("/nothing", nil, http.StatusNotFound, RefusedEvent{Reason: RefusedNotFound, Path: "/nothing"})

	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/c/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opened, ok := rec.next(t).(SessionEvent)
	if !ok || opened.Route != "cat" || opened.Path != "/" || opened.Client == "" || opened.Start.IsZero() {
		t.Errorf("opened: %+v", opened)
	}
	refused("/c/", nil, http.StatusTooManyRequests, RefusedEvent{Reason: RefusedLimit, Route: "cat", Path: "/"})

	c.WriteMessage(websocket.TextMessage, []byte("hello"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ended, ok := rec.next(t).(EndedEvent)
	if !ok || ended.SessionEvent != opened {
		t.Fatalf("ended: %+v, want the session %+v", ended, opened)
	}
	if ended.Ending.Code != wire.NormalClosure || ended.Ending.Status != "exit 0" ||
		ended.CloseCode != websocket.CloseNormalClosure || ended.ClientCloseCode != websocket.CloseNormalClosure {
		t.Errorf("ending: %+v, close code %d, client's %d", ended.Ending, ended.CloseCode, ended.ClientCloseCode)
	}
	if ended.BytesIn != 5 || ended.BytesOut != 5 || ended.Duration <= 0 {
		t.Errorf("bytes in %d, out %d, duration %v; want 5, 5 and some time", ended.BytesIn, ended.BytesOut, ended.Duration)
	}
	stop()
	select {
	case e := <-rec.events:
		t.Errorf("an event more: %+v", e)
	default:
	}
	for _, msg := range []string{"session", "origin rejected"} {
		if lines := logLines(t, logs.String(), msg); len(lines) != 0 {
			t.Errorf("the log has %q lines with another observer: %v", msg, lines)
		}
	}
}

// TestAccessLogIsTheDefault: without an Observer the access log writes the
// refusal and session lines; with Observers it does so beside another.
func TestAccessLogIsTheDefault(t *testing.T) {
	for _, name := range []string{"nil", "observers"} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder()
			var logs logBuffer
			addr, stop := serve(t, func(s *Server) {
				s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
				if name == "observers" {
					s.Observer = Observers{AccessLog(s.Log), rec}
				}
				s.Routes = []*Route{catRoute(s.Log)}
			})
			_, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/c/", http.Header{"Origin": {"http://evil.example"}})
			if err == nil {
				t.Fatal("another site's origin was let in")
			}
			c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/c/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.WriteMessage(websocket.TextMessage, []byte("hi"))
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
				t.Fatalf("echo: %q %v", msg, err)
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("the server's close: %v", err)
			}
			stop() // the session has ended and written its line
			o := logLines(t, logs.String(), "origin rejected")
			if len(o) != 1 || o[0]["level"] != "WARN" || o[0]["route"] != "cat" || o[0]["origin"] != "http://evil.example" || o[0]["path"] != "/" {
				t.Errorf("origin rejected lines: %v", o)
			}
			s := logLines(t, logs.String(), "session")
			if len(s) != 1 || s[0]["route"] != "cat" || s[0]["bytes_in"] != float64(2) || s[0]["bytes_out"] != float64(2) ||
				s[0]["status"] != "exit 0" || s[0]["close_code"] != float64(1000) || s[0]["client_close_code"] != float64(1000) {
				t.Errorf("session lines: %v", s)
			}
			if name == "observers" && len(rec.events) != 3 { // refused, opened, ended
				t.Errorf("%d events beside the log, want 3", len(rec.events))
			}
		})
	}
}

// TestRefusalOf: a backend's error names its refusal, or its status does.
func TestRefusalOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Refusal
	}{
		{httpErrorf(http.StatusNotFound, "unknown token"), RefusedNotFound},
		{httpErrorf(http.StatusGatewayTimeout, "slow"), RefusedDialTimeout},
		{httpErrorf(http.StatusBadGateway, "refused"), RefusedDialFailed},
		{httpErrorf(http.StatusInternalServerError, "cannot start the program"), RefusedSpawnFailed},
		{busyError("cannot start a process now"), RefusedOutOfResources},
		{&HTTPError{Status: http.StatusBadRequest, Refusal: RefusedNotFound}, RefusedNotFound},
		{http.ErrAbortHandler, RefusedSpawnFailed},
	} {
		if got := refusalOf(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
	if RefusedClientCert.String() != "client certificate" || Refusal(0).String() != "unknown" {
		t.Errorf("names: %q %q", RefusedClientCert, Refusal(0))
	}
}

// TestObserverAuth: wrong credentials are refused for auth, with why; the
// access log beside the observer writes auth's line.
func TestObserverAuth(t *testing.T) {
	rec := newRecorder()
	var logs logBuffer
	addr, _ := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.Observer = Observers{AccessLog(s.Log), rec}
		s.Routes[0].Auth = &auth.Checker{Methods: []auth.Method{&auth.Basic{User: "alice", Password: "secret"}}, Log: s.Log}
	})
	req, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
	req.SetBasicAuth("alice", "guess")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", resp.StatusCode)
	}
	e, ok := rec.next(t).(RefusedEvent)
	f, _ := e.Err.(*auth.Failure)
	if !ok || e.Reason != RefusedAuth || e.Upgrade || e.Path != "/x" || f == nil || f.Status != http.StatusUnauthorized || f.Why == "" {
		t.Errorf("event %+v (failure %+v), want a 401 for auth with why", e, f)
	}
	if lines := logLines(t, logs.String(), "authentication failed"); len(lines) != 1 || lines[0]["why"] != f.Why || lines[0]["route"] != nil {
		t.Errorf("authentication failed lines: %v", lines)
	}
}

// TestDrainRefusals: once a drain's delay is over, plain requests and
// upgrades alike are refused 503 with Retry-After, each heard by the
// observer as RefusedDraining on its route; the live session goes on.
func TestDrainRefusals(t *testing.T) {
	rec := newRecorder()
	var srv *Server
	addr, stop := serve(t, func(s *Server) {
		s.Observer = rec
		s.Routes = []*Route{catRoute(s.Log)}
		s.DrainTimeout = time.Hour
		srv = s
	})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/c/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := rec.next(t).(SessionEvent); !ok {
		t.Fatal("want the session's Opened event first")
	}
	if srv.Draining() {
		t.Fatal("draining before Drain")
	}
	srv.Drain()
	if !srv.Draining() {
		t.Fatal("not draining after Drain")
	}
	if srv.Ready() {
		t.Error("ready while draining")
	}
	// The delay is 0, but Serve begins refusing in its own time.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("no 503 within 10s of Drain")
		}
		resp, err := client.Get("http://" + addr + "/c/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", resp.Header)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/c/", nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade while draining: %v, want 503", err)
	}
	for _, want := range []RefusedEvent{
		{Reason: RefusedDraining, Route: "cat", Path: "/x"},
		{Reason: RefusedDraining, Route: "cat", Path: "/", Upgrade: true},
	} {
		for {
			got, ok := rec.next(t).(RefusedEvent)
			if ok && got.Reason == RefusedDraining && got.Upgrade == want.Upgrade {
				got.Client = ""
				if got != want {
					t.Errorf("got %+v, want %+v", got, want)
				}
				break
			}
		}
	}
	if RefusedDraining.String() != "draining" {
		t.Errorf("RefusedDraining is %q", RefusedDraining)
	}
	// The live session still works.
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
		t.Fatalf("echo while draining: %q %v", msg, err)
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	stop()
}

// TestObserverKindAndOpenTime: a session's events name its backend's kind
// and how long the backend took to open, for each kind of backend.
func TestObserverKindAndOpenTime(t *testing.T) {
	echo := echoBackend(t)
	for _, tc := range []struct {
		kind    string
		backend func(*slog.Logger) Backend
	}{
		{"exec", func(log *slog.Logger) Backend { return &Exec{Program: Program{Command: "/bin/cat", Log: log}} }},
		{"tcp", func(log *slog.Logger) Backend {
			return &Dial{Target: Target{"tcp", echo}, Timeout: 5 * time.Second, Log: log}
		}},
	} {
		rec := newRecorder()
		addr, stop := serve(t, func(s *Server) {
			s.Observer = rec
			s.Routes[0].Backend = tc.backend(s.Log)
		})
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		opened, ok := rec.next(t).(SessionEvent)
		if !ok || opened.Kind != tc.kind || opened.OpenTime <= 0 {
			t.Errorf("%s: opened %+v, want kind %s and an open time", tc.kind, opened, tc.kind)
		}
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		if ended, ok := rec.next(t).(EndedEvent); !ok || ended.SessionEvent != opened {
			t.Errorf("%s: ended %+v, want the session %+v", tc.kind, ended, opened)
		}
		c.Close()
		stop()
	}
	for _, tc := range []struct {
		backend Backend
		want    string
	}{
		{&Pty{}, "pty"},
		{&Dial{Target: Target{"unix", "/x.sock"}}, "unix"},
		{&Dial{Tokens: &TokenFile{}}, "tokens"},
		{BackendFunc(nil), "other"},
	} {
		if got := BackendKind(tc.backend); got != tc.want {
			t.Errorf("BackendKind(%T) = %q, want %q", tc.backend, got, tc.want)
		}
	}
}

// BackendFunc is a Backend without a Kind.
type BackendFunc func(*http.Request) (Session, error)

func (f BackendFunc) Open(r *http.Request) (Session, error) { return f(r) }

// TestReady: a server is not ready before Serve, is once it serves, and is
// not from the moment shutdown begins: before its clients hear 1001.
func TestReady(t *testing.T) {
	s := catServer()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if s.Ready() {
		t.Error("ready before Serve")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); !s.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready 10s after Serve began")
		}
	}
	c, _, err := websocket.DefaultDialer.Dial(s.URLs()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	var ce *websocket.CloseError
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("read at shutdown: %v, want 1001", err)
	}
	if s.Ready() {
		t.Error("ready after shutdown began")
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
	if s.Ready() {
		t.Error("ready after Serve returned")
	}
}

// TestAccessLogEveryRefusal: every refused handshake, whatever the reason,
// has one access line (Info or above) with its route, client, user, path,
// reason and HTTP status; the messages are the ones they always had.
func TestAccessLogEveryRefusal(t *testing.T) {
	r := httptest.NewRequest("GET", "/vm/x", nil)
	r.Host = "evil.example"
	r.Header.Set("Origin", "http://evil.example")
	for _, tc := range []struct {
		reason Refusal
		err    error
		msg    string
		status int
	}{
		{RefusedHost, nil, "host rejected: not a name this server answers to (see --allowed-host)", 421},
		{RefusedOrigin, nil, "origin rejected", 403},
		{RefusedAuth, &auth.Failure{Status: 401, Why: "wrong password"}, "authentication failed", 401},
		{RefusedAuth, &auth.Failure{Status: 401}, "authentication required", 401},
		{RefusedAuth, &auth.Failure{Status: 429, RetryAfter: time.Second}, "authentication refused: too many failures", 429},
		{RefusedClientCert, nil, "client certificate refused: none verified", 403},
		{RefusedLimit, nil, "session refused", 429},
		{RefusedOnce, nil, "session refused", 503},
		{RefusedNotFound, nil, "session refused", 404},
		{RefusedNotFound, httpErrorf(http.StatusNotFound, "unknown token"), "session refused", 404},
		{RefusedNotFound, &HTTPError{Status: 400, Message: "no token", Refusal: RefusedNotFound}, "session refused", 400},
		{RefusedBadHandshake, checkHandshake(httptest.NewRequest("POST", "/", nil)), "bad handshake", 400},
		{RefusedDialFailed, httpErrorf(http.StatusBadGateway, "backend refused the connection"), "session refused", 502},
		{RefusedDialFailed, errTokenStore, "session refused", 503},
		{RefusedDialTimeout, httpErrorf(http.StatusGatewayTimeout, "slow"), "session refused", 504},
		{RefusedSpawnFailed, errors.New("exec: no such file"), "session refused", 500},
		{RefusedOutOfResources, busyError("cannot start a process now"), "session refused", 503},
		{RefusedDraining, nil, "session refused: draining", 503},
	} {
		var logs logBuffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		AccessLog(log).Refused(RefusedEvent{Reason: tc.reason, Route: "vm", Client: "203.0.113.7:4000", Path: "/x",
			User: "ann", Upgrade: true, Err: tc.err, Request: r})
		what := fmt.Sprintf("%v (%v)", tc.reason, tc.err)
		lines := strings.FieldsFunc(logs.String(), func(r rune) bool { return r == '\n' })
		if len(lines) != 1 {
			t.Errorf("%s: %d lines, want 1: %q", what, len(lines), logs.String())
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
			t.Fatal(err)
		}
		route := "vm"
		if tc.reason == RefusedHost {
			route = "" // before any route
		}
		if m["msg"] != tc.msg || m["reason"] != tc.reason.String() || m["status"] != float64(tc.status) ||
			m["client"] != "203.0.113.7:4000" || m["path"] != "/x" || m["user"] != "ann" || (m["route"] != nil) != (route != "") {
			t.Errorf("%s: %v, want %q with reason, status %d, client, path, user and route %q", what, m, tc.msg, tc.status, route)
		}
	}
}

// TestRefusedPlainLine: a plain request's refusal says its reason on its
// "http" line, and a Host refused is logged with the client that trusted
// proxies name.
func TestRefusedPlainLine(t *testing.T) {
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.TrustedProxies = TrustedProxies{netip.MustParsePrefix("127.0.0.1/32")}
		s.Routes = []*Route{catRoute(s.Log)}
		s.Routes[0].Auth = &auth.Checker{Methods: []auth.Method{&auth.Basic{User: "alice", Password: "secret"}}, Log: s.Log}
	})
	get := func(path, host string, status int) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d, want %d", path, resp.StatusCode, status)
		}
	}
	get("/nothing", "", 404)
	get("/c/x", "", 401)
	get("/c/x", "evil.example", 421)
	stop()
	reasons := map[string]string{}
	for _, l := range logLines(t, logs.String(), "http") {
		reasons[l["path"].(string)] = fmt.Sprint(l["reason"], " ", l["status"], " ", l["client"])
	}
	if want := map[string]string{"/nothing": "not found 404 203.0.113.7", "/c/x": "auth 401 203.0.113.7"}; !maps.Equal(reasons, want) {
		t.Errorf("http lines: %v, want %v", reasons, want)
	}
	host := logLines(t, logs.String(), "host rejected: not a name this server answers to (see --allowed-host)")
	if len(host) != 1 || host[0]["client"] != "203.0.113.7" || host[0]["reason"] != "host" || host[0]["status"] != float64(421) {
		t.Errorf("host lines: %v", host)
	}
}
