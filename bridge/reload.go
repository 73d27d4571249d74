package bridge

import (
	"crypto/tls"
	"net/http"
	"slices"
	"time"
)

// routing is what a Reload replaces at once: everything a new request is
// checked and routed by. Requests load it once, at their start; a session
// keeps the route handler it started on, so a reload never touches it.
type routing struct {
	handler       http.Handler // the Host check, then the mux
	mux           *mux
	hosts         HostPolicy // the Host check's; its guard points here
	obs           Observer   // the server's, for refusals
	maxSessions   int
	shutdownGrace time.Duration
	// listeners are what each listener serves by now: its TLS, and its
	// redirect port's handler in redirects. Empty if built before Listen
	// gave the default listener.
	listeners []Listener
	redirects []http.Handler
}

// current is the routing in force, built from the Server's fields the first
// time it is asked for.
func (s *Server) current() *routing {
	if rt := s.routing.Load(); rt != nil {
		return rt
	}
	s.routing.CompareAndSwap(nil, s.newRouting(s, nil, slices.Clone(s.Listeners)))
	return s.routing.Load()
}

// newRouting builds the routing of from's fields for s, its listeners
// serving as listeners say. A route that was served before (by prev) keeps
// counting its live sessions.
func (s *Server) newRouting(from *Server, prev *routing, listeners []Listener) *routing {
	obs := s.observer()
	var old *mux
	if prev != nil {
		old = prev.mux
	}
	rt := &routing{
		mux:           newMux(from.Routes, from.TrustedProxies, s, s.Log, obs, old),
		hosts:         from.Hosts,
		obs:           obs,
		maxSessions:   from.MaxSessions,
		shutdownGrace: from.ShutdownGrace,
		listeners:     listeners,
		redirects:     make([]http.Handler, len(listeners)),
	}
	rt.mux.refusing = &s.refusing // a drain refuses whatever the routes
	rt.handler = rt.hosts.guard(rt.mux, obs, rt.mux.trusted)
	for i, l := range listeners {
		if l.RedirPort == 0 {
			continue
		}
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.bound[i].redirect(w, r) })
		if l.RedirHandler != nil {
			// Now, not on the first request: ACME offers its HTTP-01
			// challenge only once its handler exists.
			h = l.RedirHandler(h)
		}
		rt.redirects[i] = rt.hosts.guard(h, obs, rt.mux.trusted)
	}
	return rt
}

// tlsConfig is listener i's TLS as of now (spec is its first).
func (rt *routing) tlsConfig(i int, spec *Listener) *tls.Config {
	if i < len(rt.listeners) {
		return rt.listeners[i].TLS
	}
	return spec.TLS
}

// redirect is the handler of listener i's redirect port as of now: its
// scheme, its port, its ACME, and the Host names of now.
func (rt *routing) redirect(i int, b *bound) http.Handler {
	if i < len(rt.redirects) && rt.redirects[i] != nil {
		return rt.redirects[i]
	}
	// Built before Listen gave the default listener, which has no redirect.
	return rt.hosts.guard(http.HandlerFunc(b.redirect), rt.obs, rt.mux.trusted)
}

// Reload makes new requests see next's Routes, Hosts, TrustedProxies,
// MaxSessions and ShutdownGrace, and each listener's TLS and RedirHandler;
// its other fields are ignored. Sessions under way go on with the route
// they started on, to their end, and shutdown waits for them, even for a
// route next no longer has.
//
// A route of next is the same as one served before if it has the same name
// (or, unnamed, path), or else the same path: its sessions under way count
// toward its MaxSessions, and the server's toward next's MaxSessions.
//
// Sockets are not re-bound: a listener whose addresses, port, unix socket,
// redirect port or TLS-or-plain differ in next, or that next adds or
// removes, keeps serving as it did, and its index is in restart. The fields
// of s stay what it started with.
//
// Reload may be called from any goroutine once Listen has returned, while
// Serve runs; reloads are serialized. On an error (next.Validate's),
// nothing changes.
func (s *Server) Reload(next *Server) (restart []int, err error) {
	if err := next.Validate(); err != nil {
		return nil, err
	}
	s.reloading.Lock()
	defer s.reloading.Unlock()
	prev := s.current()
	served := s.Listeners
	if len(served) == 0 {
		served = []Listener{{}} // Listen's default
	}
	listeners := make([]Listener, len(served))
	for i := range served {
		if i < len(next.Listeners) && sameSockets(&served[i], &next.Listeners[i]) {
			listeners[i] = next.Listeners[i]
			continue
		}
		listeners[i] = served[i]
		if i < len(prev.listeners) {
			listeners[i] = prev.listeners[i]
		}
		restart = append(restart, i)
	}
	for i := len(served); i < len(next.Listeners); i++ {
		restart = append(restart, i)
	}
	rt := s.newRouting(next, prev, listeners)
	s.routing.Store(rt)
	s.retireLasting(next.Routes)
	s.beginLasting(next.Routes)
	return restart, nil
}

// sameSockets says whether b listens where a does, the same way: only then
// can b's TLS replace a's without a restart.
func sameSockets(a, b *Listener) bool {
	return slices.Equal(a.Addresses, b.Addresses) && a.Port == b.Port && a.Unix == b.Unix &&
		a.RedirPort == b.RedirPort && (a.TLS == nil) == (b.TLS == nil)
}
