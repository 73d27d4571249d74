package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// clock is a time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestFailLimit(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	l := &FailLimit{Max: 3, Window: time.Minute, Now: c.now}
	for i := range 3 {
		if _, ok := l.take("203.0.113.1:1000"); !ok {
			t.Fatalf("failure %d refused, want 3 allowed", i+1)
		}
	}
	// Any port of the same address is the same client.
	if wait, ok := l.take("203.0.113.1:2000"); ok || wait != time.Minute {
		t.Fatalf("fourth attempt: %v %v, want refused for 1m", wait, ok)
	}
	if _, ok := l.take("203.0.113.2:1000"); !ok {
		t.Fatal("another address refused")
	}
	c.t = c.t.Add(45 * time.Second)
	if wait, ok := l.take("203.0.113.1"); ok || wait != 15*time.Second {
		t.Fatalf("45s later: %v %v, want refused for 15s more", wait, ok)
	}
	c.t = c.t.Add(15 * time.Second)
	if _, ok := l.take("203.0.113.1"); !ok {
		t.Fatal("after the window: still refused")
	}

	// Attempts that do not fail are given back: they never add up.
	for i := range 100 {
		if _, ok := l.take("198.51.100.7:1"); !ok {
			t.Fatalf("success %d refused", i+1)
		}
		l.giveBack("198.51.100.7:1")
	}
	if _, tracked := l.clients["198.51.100.7"]; tracked {
		t.Error("a client that never failed is still tracked")
	}

	// One IPv6 /64 is one client; the mapped IPv4 form is the IPv4 client.
	for _, remote := range []string{"[2001:db8::1]:1", "[2001:db8::2%eth0]:2", "2001:db8::ffff"} {
		l.take(remote)
	}
	if _, ok := l.take("[2001:db8::3]:3"); ok {
		t.Error("a fourth address of the same /64 allowed")
	}
	if _, ok := l.take("[2001:db8:0:1::1]:1"); !ok {
		t.Error("another /64 refused")
	}
	l.take("[::ffff:192.0.2.9]:1")
	if l.clients["192.0.2.9"] == nil {
		t.Errorf("::ffff:192.0.2.9 not counted as 192.0.2.9: %v", l.clients)
	}
}

// TestFailLimitBounded: a flood from many addresses holds at most MaxClients
// entries, forgetting ended windows first and then the oldest.
func TestFailLimitBounded(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	l := &FailLimit{Max: 1, Window: time.Minute, MaxClients: 3, Now: c.now}
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		l.take(a)
		c.t = c.t.Add(time.Second)
	}
	l.take("192.0.2.4")
	if len(l.clients) != 3 || l.clients["192.0.2.1"] != nil {
		t.Fatalf("full: tracking %v, want the oldest forgotten", l.clients)
	}
	c.t = c.t.Add(time.Minute) // every window has ended
	l.take("192.0.2.5")
	if len(l.clients) != 1 {
		t.Fatalf("after every window ended: tracking %d clients, want 1", len(l.clients))
	}
}

// counted is a real Method that also counts its checks.
type counted struct {
	Method
	checks int
}

func (c *counted) Check(r *http.Request) (Identity, error) {
	c.checks++
	return c.Method.Check(r)
}

// TestCheckerLimit: over the limit a client gets 429 with Retry-After, and
// its credentials are not checked at all (no bcrypt for a flood); missing
// credentials and successes do not count.
func TestCheckerLimit(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	basic := &counted{Method: &Basic{"alice", "secret"}}
	checker := &Checker{Methods: []Method{basic}, Limit: &FailLimit{Max: 2, Window: time.Minute, Now: c.now}, Log: quiet}
	try := func(remote, user, pass string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		w := httptest.NewRecorder()
		checker.Authenticate(w, r)
		return w
	}
	for range 5 {
		try("203.0.113.1:1", "alice", "secret")
		try("203.0.113.1:1", "", "")
	}
	for i := range 2 {
		if w := try("203.0.113.1:1", "alice", "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, w.Code)
		}
	}
	before := basic.checks
	for _, pass := range []string{"guess", "secret"} {
		w := try("203.0.113.1:2", "alice", pass)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
			t.Errorf("over the limit, password %q: %d, Retry-After %q; want 429, 60", pass, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if basic.checks != before {
		t.Errorf("over the limit, credentials were checked %d times", basic.checks-before)
	}
	if w := try("203.0.113.2:1", "alice", "secret"); w.Code != http.StatusOK {
		t.Errorf("another address, right password: %d", w.Code)
	}
	c.t = c.t.Add(59500 * time.Millisecond)
	if w := try("203.0.113.1:3", "alice", "secret"); w.Header().Get("Retry-After") != "1" {
		t.Errorf("half a second before the end: Retry-After %q, want 1", w.Header().Get("Retry-After"))
	}
	c.t = c.t.Add(time.Second)
	if w := try("203.0.113.1:3", "alice", "secret"); w.Code != http.StatusOK {
		t.Errorf("after the window, right password: %d", w.Code)
	}
}
