package auth

import (
	"net/netip"
	"sync"
	"time"
)

// FailLimit refuses a client address that sent wrong credentials Max times
// within Window: until that window ends it gets 429 before any credentials
// are checked, so neither parallel guessing (which --auth-fail-delay does
// not slow) nor a flood that keeps bcrypt busy gets far. Successes do not
// count. Every attempt is counted when it starts and given back when it does
// not fail, so parallel attempts cannot slip past the limit together.
//
// An IPv6 client is counted by its /64, which one host usually owns whole.
// A nil *FailLimit limits nothing. It is safe for concurrent use.
type FailLimit struct {
	Max        int
	Window     time.Duration
	MaxClients int              // addresses tracked at once; 0: 10,000
	Now        func() time.Time // nil: time.Now; tests set a clock

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	n     int       // failures (and attempts under way) in this window
	start time.Time // the window's start
}

// take counts an attempt from the client at remote (an http.Request's
// RemoteAddr). Over the limit, it counts nothing and says how long until the
// client may try again.
func (l *FailLimit) take(remote string) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now, key := l.now(), clientKey(remote)
	f := l.clients[key]
	if f == nil || now.Sub(f.start) >= l.Window {
		if f == nil {
			l.makeRoom(now)
		}
		f = &failures{start: now}
		l.clients[key] = f
	}
	if f.n >= l.Max {
		return f.start.Add(l.Window).Sub(now), false
	}
	f.n++
	return 0, true
}

// giveBack undoes take for an attempt that did not fail.
func (l *FailLimit) giveBack(remote string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := clientKey(remote)
	if f := l.clients[key]; f != nil {
		if f.n--; f.n <= 0 {
			delete(l.clients, key) // clients that never fail are not tracked
		}
	}
}

// makeRoom keeps the map within MaxClients before one more is added: it
// forgets the clients whose window has ended and, if that is not enough, the
// one whose window started first. l.mu is held.
func (l *FailLimit) makeRoom(now time.Time) {
	max := l.MaxClients
	if max <= 0 {
		max = 10000
	}
	if l.clients == nil {
		l.clients = map[string]*failures{}
	}
	if len(l.clients) < max {
		return
	}
	oldest := ""
	for key, f := range l.clients {
		if now.Sub(f.start) >= l.Window {
			delete(l.clients, key)
		} else if oldest == "" || f.start.Before(l.clients[oldest].start) {
			oldest = key
		}
	}
	if len(l.clients) >= max {
		delete(l.clients, oldest)
	}
}

func (l *FailLimit) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// clientKey is what a client is counted by: its address without port or
// zone, an IPv6 address's /64, or the text as it is when it is no address
// (a unix-socket peer).
func clientKey(remote string) string {
	a, err := netip.ParseAddr(remote)
	if ap, perr := netip.ParseAddrPort(remote); perr == nil {
		a, err = ap.Addr(), nil
	}
	if err != nil {
		return remote
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
