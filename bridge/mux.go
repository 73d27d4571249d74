package bridge

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// routePath is where r is served: "" means "/", every path.
func (r *Route) routePath() string { return cmp.Or(r.Path, "/") }

// routeName is r's name in logs: its Name, or else its path.
func (r *Route) routeName() string { return cmp.Or(r.Name, r.routePath()) }

// DisplayName is the name events give r: its Name, or else its path.
func (r *Route) DisplayName() string { return r.routeName() }

// isPrefix says whether r serves a subtree (a path ending in "/") rather
// than one exact path.
func (r *Route) isPrefix() bool { return strings.HasSuffix(r.routePath(), "/") }

// Validate checks the routes: each path starts with "/", and no two routes
// have the same one (which of them would serve it?).
func (s *Server) Validate() error {
	seen := map[string]*Route{}
	for _, r := range s.Routes {
		p := r.routePath()
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("route %q: path %q must start with /", r.routeName(), p)
		}
		if other := seen[p]; other != nil {
			return fmt.Errorf("routes %q and %q have the same path %s", other.routeName(), r.routeName(), p)
		}
		seen[p] = r
	}
	return nil
}

// mux picks a request's route: the longest route path that matches it. It
// works once per request, before the upgrade; it is never on the byte path,
// so a scan of a few routes costs nothing that matters.
//
// It also does what is server-wide and must come before any route: the
// client's address (TrustedProxies) and the access line of plain requests,
// so that a request no route matches is logged too.
type mux struct {
	exact    map[string]*routeHandler // paths without a trailing slash
	prefixes []*routeHandler          // paths ending in "/" other than "/", longest first
	root     *routeHandler            // "/": every path no other route takes; may be nil
	trusted  TrustedProxies
	log      *slog.Logger
	obs      Observer
	refusing *atomic.Bool // the server drains and refuses new requests
}

// newMux routes to routes, whose handlers answer to adm. A route that old
// served too (see Reload) shares its handler's count of sessions.
func newMux(routes []*Route, trusted TrustedProxies, adm admission, log *slog.Logger, obs Observer, old *mux) *mux {
	m := &mux{exact: map[string]*routeHandler{}, trusted: trusted, log: log, obs: obs}
	counts := old.counts()
	for _, r := range routes {
		h := newRouteHandler(r, adm, log.With("route", r.routeName()), obs)
		if prev := counts.take(r); prev != nil {
			h.active = prev.active
			handOver(prev.route.Backend, r.Backend)
		}
		m.add(h)
	}
	slices.SortFunc(m.prefixes, func(a, b *routeHandler) int {
		return len(b.route.routePath()) - len(a.route.routePath())
	})
	return m
}

func (m *mux) add(h *routeHandler) {
	switch p := h.route.routePath(); {
	case p == "/":
		m.root = h
	case h.route.isPrefix():
		m.prefixes = append(m.prefixes, h)
	default:
		m.exact[p] = h
	}
}

// sessionCounts are the session counts of a mux's routes, by name and by
// path, for the routes of the next mux to take over.
type sessionCounts struct {
	byName, byPath map[string]*routeHandler
}

func (m *mux) counts() sessionCounts {
	c := sessionCounts{byName: map[string]*routeHandler{}, byPath: map[string]*routeHandler{}}
	if m == nil {
		return c
	}
	all := slices.Collect(maps.Values(m.exact))
	all = append(all, m.prefixes...)
	if m.root != nil {
		all = append(all, m.root)
	}
	for _, h := range all {
		c.byName[h.route.routeName()] = h
		c.byPath[h.route.routePath()] = h
	}
	return c
}

// take is the route r replaces, whose session count (and lasting
// terminals) it goes on with: the route with r's name, or else with r's
// path; nil for a new route. Each goes to one route.
func (c sessionCounts) take(r *Route) *routeHandler {
	h := c.byName[r.routeName()]
	if h == nil {
		h = c.byPath[r.routePath()]
	}
	if h == nil {
		return nil
	}
	delete(c.byName, h.route.routeName())
	delete(c.byPath, h.route.routePath())
	return h
}

// match finds the route for path and the path its backend, page or folder
// sees. slashless is set when path is a prefix route's path without its
// trailing slash: that route answers with a redirect to it (as
// net/http.ServeMux does), however shorter prefixes match.
func (m *mux) match(path string) (h *routeHandler, rest string, slashless bool) {
	if h := m.exact[path]; h != nil {
		return h, "/", false
	}
	for _, h := range m.prefixes {
		p := h.route.routePath()
		if rest, ok := strings.CutPrefix(path, p); ok {
			return h, "/" + rest, false
		}
		if len(p) == len(path)+1 && p[:len(path)] == path {
			return h, "", true
		}
	}
	if m.root != nil {
		return m.root, path, false
	}
	return nil, "", false
}

func (m *mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.RemoteAddr = m.trusted.ClientAddr(r)
	h, rest, slashless := m.match(r.URL.Path)
	upgrade := websocket.IsWebSocketUpgrade(r)
	if !upgrade {
		// An upgrade has its session line; a plain request gets this one.
		rec, start := &plainRecorder{ResponseWriter: w}, time.Now()
		name := ""
		if h != nil {
			name = h.route.routeName()
		}
		defer logPlain(m.log, r, rec, start, name)
		w = rec
	}
	switch {
	case m.refusing.Load():
		name, path := "", r.URL.Path
		if h != nil && !slashless {
			name, path = h.route.routeName(), rest
		}
		m.obs.Refused(RefusedEvent{Reason: RefusedDraining, Route: name, Client: r.RemoteAddr, Path: path, Upgrade: upgrade, Request: r})
		writeOpenError(w, errDraining)
	case h == nil:
		if rec, ok := w.(*plainRecorder); ok {
			rec.refusal = RefusedNotFound
		}
		m.obs.Refused(RefusedEvent{Reason: RefusedNotFound, Client: r.RemoteAddr, Path: r.URL.Path, Upgrade: upgrade, Request: r})
		http.NotFound(w, r)
	case slashless:
		addHeaders(w.Header(), h.route.Header)
		if upgrade {
			// A client of WebSockets does not follow redirects.
			h.refused(w, RefusedNotFound, r, nil)
			http.NotFound(w, r)
			return
		}
		target := h.route.routePath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	case rest == r.URL.Path:
		h.ServeHTTP(w, r)
	default:
		r2 := r.WithContext(r.Context())
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		h.ServeHTTP(w, r2)
	}
}

// errDraining answers every request once a drain's delay is over. The
// connection closes after it, so that a proxy that kept it alive opens its
// next one to another instance.
var errDraining = &HTTPError{
	Status:  http.StatusServiceUnavailable,
	Message: "this server is draining: try again",
	Header:  http.Header{"Retry-After": {"1"}, "Connection": {"close"}},
}
