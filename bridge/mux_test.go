package bridge

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sayRoute is a route whose program says the route's name and the path it
// was given, and whose every response names the route in X-Route.
func sayRoute(name, path string, log *slog.Logger) *Route {
	return &Route{
		Name:       name,
		Path:       path,
		Backend:    &Exec{Program: Program{Command: "/bin/sh", Args: []string{"-c", `echo "` + name + ` $PATH_TRANSLATED"`}, Log: log}},
		MaxMessage: 1 << 10,
		Header:     http.Header{"X-Route": {name}},
	}
}

// noRedirect gets the answer itself, redirect or not.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// logLines reads a JSON log's lines with message msg.
func logLines(t *testing.T, log string, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestMuxLongestMatch: the longest route path wins; a prefix is stripped,
// an exact path is seen as "/", and "" serves what no other route takes. An
// exact route beats a prefix route's redirect from the same path.
func TestMuxLongestMatch(t *testing.T) {
	addr, _ := serve(t, func(s *Server) {
		s.Routes = []*Route{
			sayRoute("root", "", s.Log),
			sayRoute("a", "/a/", s.Log),
			sayRoute("ab", "/a/b/", s.Log),
			sayRoute("x", "/x", s.Log),
			sayRoute("c", "/c", s.Log),
			sayRoute("cdir", "/c/", s.Log),
		}
	})
	for path, want := range map[string]string{
		"/":         "root /",
		"/zzz":      "root /zzz",
		"/a/":       "a /",
		"/a/q":      "a /q",
		"/a/bc":     "a /bc",
		"/a/b/":     "ab /",
		"/a/b/c/d":  "ab /c/d",
		"/x":        "x /",
		"/x/":       "root /x/",
		"/xy":       "root /xy",
		"/a%2Fb/c":  "ab /c", // the decoded path is matched, as --base-path did
		"/a/b/?q=1": "ab /",
		"/c":        "c /", // an exact path, not the slashless redirect
		"/c/z":      "cdir /z",
	} {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != want {
			t.Errorf("%s: %q %v, want %q", path, msg, err, want)
		}
		c.Close()
	}

	// A prefix route's path without its slash: plain requests are sent to
	// it, even when a shorter prefix matches; upgrades are 404.
	for path, want := range map[string]string{"/a?q=1": "/a/?q=1", "/a/b": "/a/b/"} {
		resp := get(t, "http://"+addr+path)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != want {
			t.Errorf("GET %s: %d to %q, want 301 to %q", path, resp.StatusCode, loc, want)
		}
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
		if err == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("upgrade %s: %v, want 404", path, err)
		}
	}
	if resp := get(t, "http://"+addr+"/a/b/c"); resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("X-Route") != "ab" {
		t.Errorf("GET /a/b/c: %d from route %q, want 426 from ab", resp.StatusCode, resp.Header.Get("X-Route"))
	}
}

// TestMuxNotFound: without a route for "/", a request no route matches is
// 404 and its access line names no route.
func TestMuxNotFound(t *testing.T) {
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.Routes = []*Route{sayRoute("a", "/a/", s.Log), sayRoute("x", "/x", s.Log)}
	})
	for _, path := range []string{"/", "/elsewhere", "/x/", "/xy", "/b/"} {
		if resp := get(t, "http://"+addr+path); resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Route") != "" {
			t.Errorf("GET %s: %d from route %q, want 404 from none", path, resp.StatusCode, resp.Header.Get("X-Route"))
		}
		if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil); err == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("upgrade %s: %v, want 404", path, err)
		}
	}
	get(t, "http://"+addr+"/a/page")
	stop()
	routes := map[string]string{}
	for _, l := range logLines(t, logs.String(), "http") {
		routes[l["path"].(string)] = l["route"].(string)
	}
	if routes["/elsewhere"] != "" || routes["/a/page"] != "a" {
		t.Errorf("access lines' routes: %v", routes)
	}
}

// TestDuplicateRoutePaths: two routes on one path is an error that names
// both, from Validate and so from Listen, before anything is bound.
func TestDuplicateRoutePaths(t *testing.T) {
	for _, tc := range []struct {
		routes []*Route
		want   string
	}{
		{[]*Route{{Name: "one", Path: "/a/"}, {Path: "/b"}, {Name: "two", Path: "/a/"}}, `routes "one" and "two" have the same path /a/`},
		{[]*Route{{Name: "all"}, {Path: "/"}}, `routes "all" and "/" have the same path /`},
		{[]*Route{{Name: "rel", Path: "a/"}}, `route "rel": path "a/" must start with /`},
	} {
		s := &Server{Listeners: []Listener{{Addresses: []string{"127.0.0.1"}}}, Routes: tc.routes, Log: slog.New(slog.DiscardHandler)}
		if err := s.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate: %v, want %s", err, tc.want)
		}
		if err := s.Listen(); err == nil || err.Error() != tc.want || len(s.bound) != 0 {
			t.Errorf("Listen: %v with %d listeners, want %s", err, len(s.bound), tc.want)
		}
	}
	s := &Server{Routes: []*Route{{}, {Path: "/a/"}, {Path: "/a"}}}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate of distinct paths: %v", err)
	}
}

// TestTwoRoutesOneServer: a program and a TCP service on one server, each
// with its own framing and limits; the session lines name their routes.
func TestTwoRoutesOneServer(t *testing.T) {
	echo := echoBackend(t)
	var logs logBuffer
	addr, stop := serve(t, func(s *Server) {
		s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		s.Routes = []*Route{{
			Name:        "cat",
			Path:        "/a/",
			Backend:     &Exec{Program: Program{Command: "/bin/cat", Log: s.Log}},
			MaxMessage:  1 << 10,
			MaxSessions: 1,
		}, {
			Name:       "echo",
			Path:       "/b",
			Backend:    &Dial{Target: Target{"tcp", echo}, Timeout: time.Second, Grace: time.Second, Log: s.Log},
			Framing:    Binary,
			MaxMessage: 1 << 10,
		}}
	})
	dial := func(path string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return c
	}
	// Line framing: a text message per line, the newline dropped.
	cat := dial("/a/")
	defer cat.Close()
	cat.WriteMessage(websocket.TextMessage, []byte("one"))
	if typ, msg, err := cat.ReadMessage(); err != nil || typ != websocket.TextMessage || string(msg) != "one" {
		t.Fatalf("cat: %d %q %v", typ, msg, err)
	}
	// cat's one session is taken; echo's route has no limit.
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/a/", nil); err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second cat: %v, want 429", err)
	}
	for range 2 {
		e := dial("/b")
		defer e.Close()
		// Binary framing: bytes as they come, newlines and all.
		e.WriteMessage(websocket.BinaryMessage, []byte("x\ny"))
		var got []byte
		for string(got) != "x\ny" {
			typ, msg, err := e.ReadMessage()
			if err != nil || typ != websocket.BinaryMessage || !strings.HasPrefix("x\ny", string(append(got, msg...))) {
				t.Fatalf("echo: %d %q %v", typ, append(got, msg...), err)
			}
			got = append(got, msg...)
		}
	}
	stop() // every session ends and writes its line
	routes := map[string]int{}
	for _, l := range logLines(t, logs.String(), "session") {
		routes[l["route"].(string)+" "+l["path"].(string)]++
	}
	if routes["cat /"] != 1 || routes["echo /"] != 2 || len(routes) != 2 {
		t.Errorf("session lines by route and path: %v", routes)
	}
}

// TestOnceIsServerWide: --once serves one session across all routes.
func TestOnceIsServerWide(t *testing.T) {
	addr, stop := serve(t, func(s *Server) {
		s.Once = true
		s.Routes = []*Route{sayRoute("a", "/a/", s.Log), sayRoute("b", "/b", s.Log)}
		s.Routes[0].Backend = &Exec{Program: Program{Command: "/bin/cat", Log: s.Log}}
	})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/a/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/b", nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a session on another route: %v, want 503", err)
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	stop() // returns once the session has ended, --once or not
}
