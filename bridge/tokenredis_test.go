package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/internal/redistest"
)

// TestRedisSource: websockify's source strings and URLs, and what is wrong
// with bad ones.
func TestRedisSource(t *testing.T) {
	for _, tc := range []struct {
		source            string
		addr, network, pw string
		db                int
		ns                string
	}{
		{"redis.example", "redis.example:6379", "tcp", "", 0, ""},
		{"redis.example:6380", "redis.example:6380", "tcp", "", 0, ""},
		{"redis.example:::verysecretpass", "redis.example:6379", "tcp", "verysecretpass", 0, ""},
		{"redis.example::::my-app", "redis.example:6379", "tcp", "", 0, "my-app"},
		{`redis.example::::"first-ns:second-ns"`, "redis.example:6379", "tcp", "", 0, "first-ns:second-ns"},
		{`redis.example:6380:1:"pass:word":ns`, "redis.example:6380", "tcp", "pass:word", 1, "ns"},
		{"redis.example:6380:1:verysecretpass:my-app", "redis.example:6380", "tcp", "verysecretpass", 1, "my-app"},
		{"redis://:pw@10.0.0.1:6390/3?namespace=vnc", "10.0.0.1:6390", "tcp", "pw", 3, "vnc"},
		{"redis://[::1]", "[::1]:6379", "tcp", "", 0, ""},
		{"unix:///run/redis.sock?db=2", "/run/redis.sock", "unix", "", 2, ""},
	} {
		opt, ns, err := parseRedisSource(tc.source)
		if err != nil {
			t.Errorf("%s: %v", tc.source, err)
			continue
		}
		if opt.Addr != tc.addr || opt.Network != tc.network || opt.Password != tc.pw || opt.DB != tc.db || ns != tc.ns {
			t.Errorf("%s: %s %s password %q db %d namespace %q, want %s %s %q %d %q",
				tc.source, opt.Network, opt.Addr, opt.Password, opt.DB, ns, tc.network, tc.addr, tc.pw, tc.db, tc.ns)
		}
	}
	for _, tc := range []struct{ source, want string }{
		{"", "no host"},
		{":6379", "no host"},
		{"h:port", `"port" is not a port`},
		{"h:0", `"0" is not a port`},
		{"h::x", `"x" is not a database number`},
		{"h:1:2:3:4:5", "want host[:port[:db[:password[:namespace]]]]"},
		{"redis://h/x", "invalid database number"},
		{"http://h", "invalid URL scheme"},
		{"redis://h:1/%zz", "invalid URL escape"},
		{"redis://:se%zzcret@h:1/", "not a valid URL"},
	} {
		_, _, err := parseRedisSource(tc.source)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.source, err, tc.want)
		}
		if err != nil && strings.Contains(tc.source, "@") && strings.Contains(err.Error(), "zz") {
			t.Errorf("%q: the error %q shows part of the password", tc.source, err)
		}
	}
}

// TestRedisTarget: a token's value as websockify reads it, and more.
func TestRedisTarget(t *testing.T) {
	for value, want := range map[string]Target{
		"10.0.0.5:5901":                        {"tcp", "10.0.0.5:5901"},
		" vnc.example:5900\n":                  {"tcp", "vnc.example:5900"},
		"[::1]:5900":                           {"tcp", "[::1]:5900"},
		`{"host": "10.0.0.5:5901"}`:            {"tcp", "10.0.0.5:5901"},
		`{"host": "10.0.0.5", "port": 5901}`:   {"tcp", "10.0.0.5:5901"},
		`{"host": "::1", "port": "5901"}`:      {"tcp", "[::1]:5901"},
		"unix_socket:/run/vm.sock":             {"unix", "/run/vm.sock"},
		`{"host": "unix_socket:/run/vm.sock"}`: {"unix", "/run/vm.sock"},
	} {
		got, err := parseRedisTarget(value)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", value, got, err, want)
		}
	}
	for value, want := range map[string]string{
		"10.0.0.5":                     "not host:port",
		"{not json":                    "not valid JSON",
		`{"port": 5901}`:               `without "host"`,
		`{"host": "10.0.0.5"}`:         "not host:port",
		`{"host": "h", "port": 70000}`: "not a port",
		`{"host": 5}`:                  "not valid JSON",
	} {
		if _, err := parseRedisTarget(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", value, err, want)
		}
	}
}

// statusOf is the HTTP status err answers, 0 for none.
func statusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// lookup asks d for ?token=token's target.
func lookup(d *Dial, token string) (Target, error) {
	return d.target(httptest.NewRequest("GET", "/?token="+token, nil))
}

// TestTokenRedis: targets from a real Redis with a password, a database and
// a namespace: JSON and host:port values, an unknown token (404), a bad
// value (502, logged with its key but not its value), a token that is in
// another database or namespace (404), a wrong password (503).
func TestTokenRedis(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	srv.Do(2, "SET", "vnc:vm1", `{"host": "10.0.0.1:5901"}`)
	srv.Do(2, "SET", "vnc:vm2", "10.0.0.2:5902")
	srv.Do(2, "SET", "vnc:VM3.example", "10.0.0.3:5903")
	srv.Do(2, "SET", "vnc:vm3.example", "10.0.0.4:5904")
	srv.Do(2, "SET", "vnc:bad", `{"hots": "hidden-value:1"}`)
	srv.Do(2, "SET", "vm4", "10.0.0.9:5909")     // no namespace
	srv.Do(0, "SET", "vnc:vm5", "10.0.0.9:5909") // another database
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tokens, err := NewTokenRedis(srv.Addr()+":2:s3cret:vnc", "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	d := &Dial{Tokens: tokens, Log: log}
	for token, want := range map[string]string{"vm1": "10.0.0.1:5901", "vm2": "10.0.0.2:5902", "VM3.example": "10.0.0.3:5903"} {
		if got, err := lookup(d, token); err != nil || got != (Target{"tcp", want}) {
			t.Errorf("%s: %v %v, want %s", token, got, err, want)
		}
	}
	for token, status := range map[string]int{"nope": 404, "vm4": 404, "vm5": 404, "bad": 502} {
		if _, err := lookup(d, token); statusOf(err) != status {
			t.Errorf("%s: %v, want %d", token, err, status)
		}
	}
	// With --host-token the Host name is looked up in lower case.
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "VM3.Example:443"
	if got, err := (&Dial{Tokens: tokens, HostToken: true}).target(r); err != nil || got.Address != "10.0.0.4:5904" {
		t.Errorf("Host %s: %v %v, want 10.0.0.4:5904", r.Host, got, err)
	}
	if s := logs.String(); !strings.Contains(s, `msg="token store: bad value"`) || !strings.Contains(s, "key=vnc:bad") || strings.Contains(s, "hidden-value") {
		t.Errorf("the log does not name the bad key, or shows its value:\n%s", s)
	}
	if s := d.String(); s != "targets from Redis at "+srv.Addr()+"/2 (namespace vnc)" || strings.Contains(s, "s3cret") {
		t.Errorf("String: %q", s)
	}

	// The password given apart replaces the source's; a URL works alike.
	for _, c := range []struct{ source, password string }{
		{srv.Addr() + ":2:wrong:vnc", "s3cret"},
		{fmt.Sprintf("redis://:s3cret@%s/2?namespace=vnc", srv.Addr()), ""},
	} {
		other, err := NewTokenRedis(c.source, c.password, log)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := (&Dial{Tokens: other}).target(httptest.NewRequest("GET", "/?token=vm2", nil)); err != nil || got.Address != "10.0.0.2:5902" {
			t.Errorf("%s: %v %v", c.source, got, err)
		}
		other.Close()
	}
	wrong, err := NewTokenRedis(srv.Addr()+":2:wrong:vnc", "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := lookup(&Dial{Tokens: wrong}, "vm1"); statusOf(err) != http.StatusServiceUnavailable {
		t.Errorf("a wrong password: %v, want 503", err)
	}
}

// getCalls is how many GETs Redis has answered.
func getCalls(t *testing.T, srv *redistest.Server) int {
	info := srv.Do(0, "INFO", "commandstats").(string)
	var n int
	if i := strings.Index(info, "cmdstat_get:calls="); i >= 0 {
		fmt.Sscanf(info[i:], "cmdstat_get:calls=%d", &n)
	}
	return n
}

// TestTokenRedisCache: a burst of lookups of one token costs far fewer GETs
// than lookups, at once or in turn; a change in Redis counts soon after.
func TestTokenRedisCache(t *testing.T) {
	srv := redistest.Start(t)
	srv.Do(0, "SET", "vm1", "10.0.0.1:5901")
	tokens, err := NewTokenRedis(srv.Addr(), "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	d := &Dial{Tokens: tokens}
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := lookup(d, "vm1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range n {
		lookup(d, "vm1")
		lookup(d, "unknown")
	}
	if calls := getCalls(t, srv); calls >= n {
		t.Errorf("%d lookups cost %d GETs", 3*n, calls)
	}
	// A long token is looked up each time: 10,000 of them must not fill the memory.
	long := strings.Repeat("x", redisCacheKeyMax+1)
	srv.Do(0, "SET", long, "10.0.0.1:5901")
	before := getCalls(t, srv)
	for range 5 {
		if _, err := lookup(d, long); err != nil {
			t.Fatal(err)
		}
	}
	if calls := getCalls(t, srv) - before; calls != 5 {
		t.Errorf("5 lookups of a long token cost %d GETs, want 5 (not cached)", calls)
	}

	srv.Do(0, "SET", "vm1", "10.0.0.2:5902")
	waitFor(t, "the new target", func() bool {
		got, err := lookup(d, "vm1")
		return err == nil && got.Address == "10.0.0.2:5902"
	})
	srv.Do(0, "SET", "unknown", "10.0.0.3:5903")
	waitFor(t, "the new token", func() bool { _, err := lookup(d, "unknown"); return err == nil })
}

// TestTokenRedisDown: a Redis that stops, or stops answering, is a 503 for
// each lookup (logged), never a hang; when it is back, lookups work again
// by themselves.
func TestTokenRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Do(0, "SET", "vm1", "10.0.0.1:5901")
	var logs logBuffer
	tokens, err := NewTokenRedis(srv.Addr(), "", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	d := &Dial{Tokens: tokens}
	if _, err := lookup(d, "vm1"); err != nil {
		t.Fatal(err)
	}

	srv.Pause() // connected, but silent
	waitFor(t, "a 503 from a silent Redis", func() bool {
		_, err := lookup(d, "vm1") // once the cached answer is gone
		return statusOf(err) == http.StatusServiceUnavailable
	})
	if _, err := lookup(d, "vm2"); statusOf(err) != http.StatusServiceUnavailable {
		t.Errorf("an uncached token with Redis silent: %v, want 503", err)
	}
	srv.Resume()
	waitFor(t, "vm1 again", func() bool { _, err := lookup(d, "vm1"); return err == nil })

	srv.Stop()
	for _, token := range []string{"vm1", "vm2"} {
		waitFor(t, "a 503 with Redis stopped", func() bool {
			_, err := lookup(d, token)
			return statusOf(err) == http.StatusServiceUnavailable
		})
	}
	if !strings.Contains(logs.String(), `msg="token store unavailable"`) {
		t.Errorf("no log line says why:\n%s", logs.String())
	}
	srv.Restart()
	srv.Do(0, "SET", "vm1", "10.0.0.7:5907")
	waitFor(t, "the restarted Redis's vm1", func() bool {
		got, err := lookup(d, "vm1")
		return err == nil && got.Address == "10.0.0.7:5907"
	})
}

// TestTokenRedisServed: through the server, a token in Redis reaches its
// TCP target; an unknown one is 404, Redis stopped is 503 with Retry-After.
func TestTokenRedisServed(t *testing.T) {
	srv := redistest.Start(t)
	srv.Do(0, "SET", "echo", echoBackend(t))
	tokens, err := NewTokenRedis(srv.Addr(), "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	addr, _ := serve(t, func(s *Server) {
		s.Routes[0].Backend = &Dial{Tokens: tokens, Timeout: 10 * time.Second, Log: s.Log}
	})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?token=echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("hello"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Errorf("echo: %q %v", msg, err)
	}
	c.Close()
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?token=nope", nil); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown token: %v, want 404", err)
	}
	srv.Stop()
	waitFor(t, "503 with Redis stopped", func() bool {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?token=echo", nil)
		return err != nil && resp != nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "1"
	})
}

// waitFor polls cond until it holds, or fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited a minute for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTokenRedisReloaded: a reload that replaces a Redis route closes the
// old route's connections to Redis (after a grace for requests under way),
// and shutdown closes the last one's: connections do not pile up with
// reloads.
func TestTokenRedisReloaded(t *testing.T) {
	defer func(g time.Duration) { retiredSourceGrace = g }(retiredSourceGrace)
	retiredSourceGrace = 0
	redisSrv := redistest.Start(t)
	redisSrv.Do(0, "SET", "echo", echoBackend(t))
	route := func(log *slog.Logger) *Route {
		tokens, err := NewTokenRedis(redisSrv.Addr(), "", log)
		if err != nil {
			t.Fatal(err)
		}
		return &Route{Backend: &Dial{Tokens: tokens, Timeout: 10 * time.Second, Log: log}, MaxMessage: 1 << 10}
	}
	// clients counts Redis's clients other than this test's own CLIENT LIST.
	clients := func() int { return strings.Count(fmt.Sprint(redisSrv.Do(0, "CLIENT", "LIST")), "\n") - 1 }
	var srv *Server
	addr, stop := serve(t, func(s *Server) {
		srv = s
		s.Routes = []*Route{route(s.Log)}
	})
	for i := range 5 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?token=echo", nil)
		if err != nil {
			t.Fatalf("after %d reloads: %v", i, err)
		}
		c.Close()
		if _, err := srv.Reload(&Server{Routes: []*Route{route(srv.Log)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the replaced routes' Redis connections closed", func() bool { return clients() == 0 })
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?token=echo", nil)
	if err != nil {
		t.Fatalf("after the reloads: %v", err)
	}
	c.Close()
	if n := clients(); n != 1 {
		t.Errorf("%d clients of Redis while one route looks tokens up, want 1", n)
	}
	stop()
	waitFor(t, "the last route's Redis connection closed at shutdown", func() bool { return clients() == 0 })
}
