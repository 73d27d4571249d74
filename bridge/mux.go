package bridge

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// routePath is where r is served: "" means "/", every path.
func (r *Route) routePath() string { return cmp.Or(r.Path, "/") }

// routeName is r's name in logs: its Name, or else its path.
func (r *Route) routeName() string { return cmp.Or(r.Name, r.routePath()) }

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
}

func newMux(s *Server) *mux {
	m := &mux{exact: map[string]*routeHandler{}, trusted: s.TrustedProxies, log: s.Log, obs: s.observer()}
	for _, r := range s.Routes {
		h := newRouteHandler(r, s, s.Log.With("route", r.routeName()), m.obs)
		switch p := r.routePath(); {
		case p == "/":
			m.root = h
		case r.isPrefix():
			m.prefixes = append(m.prefixes, h)
		default:
			m.exact[p] = h
		}
	}
	slices.SortFunc(m.prefixes, func(a, b *routeHandler) int {
		return len(b.route.routePath()) - len(a.route.routePath())
	})
	return m
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
