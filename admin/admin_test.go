package admin

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in    string
		hosts []string
		port  int
		err   string
	}{
		{in: "9090", port: 9090},
		{in: ":9090", port: 9090},
		{in: "0", port: 0},
		{in: "127.0.0.1:9090", hosts: []string{"127.0.0.1"}, port: 9090},
		{in: "[::1]:9090", hosts: []string{"::1"}, port: 9090},
		{in: "0.0.0.0:9", hosts: []string{"0.0.0.0"}, port: 9},
		{in: "localhost:9090", hosts: []string{"localhost"}, port: 9090},
		{in: "", err: `"": "" is not a port (0-65535)`},
		{in: "nine", err: `"nine": "nine" is not a port (0-65535)`},
		{in: "127.0.0.1:", err: `"127.0.0.1:": "" is not a port (0-65535)`},
		{in: ":70000", err: `":70000": "70000" is not a port (0-65535)`},
		{in: "::1", err: `"::1" is not HOST:PORT or a port`},
	} {
		hosts, port, err := ParseAddress(tc.in)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: %v, want error %s", tc.in, err, tc.err)
			}
		case err != nil || port != tc.port || strings.Join(hosts, ",") != strings.Join(tc.hosts, ","):
			t.Errorf("%q: %v %d %v, want %v %d", tc.in, hosts, port, err, tc.hosts, tc.port)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe: a bare port listens on loopback; /healthz answers, /readyz
// follows ready, /metrics is the handler given, and other paths are 404.
func TestServe(t *testing.T) {
	var ready atomic.Bool
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the metrics") }), ready.Load)
	a, err := Listen("0", h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Serve()
	defer a.Close()
	urls := a.URLs()
	for _, u := range urls {
		if !strings.HasPrefix(u, "http://127.0.0.1:") && !strings.HasPrefix(u, "http://[::1]:") {
			t.Errorf("%s: not loopback", u)
		}
	}
	base := urls[0]
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{{"healthz", 200, "ok\n"}, {"readyz", 503, "not ready\n"}, {"metrics", 200, "the metrics"}, {"other", 404, "404 page not found\n"}} {
		if status, body := get(t, base+tc.path); status != tc.status || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
		}
	}
	ready.Store(true)
	if status, body := get(t, base+"readyz"); status != 200 || body != "ready\n" {
		t.Errorf("readyz when ready: %d %q", status, body)
	}
}

// TestPortInUse: a port taken is a *bridge.ListenError naming the address.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Listen("127.0.0.1:"+strconv.Itoa(port), http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	var le *bridge.ListenError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EADDRINUSE) || err.Error() != "listen on 127.0.0.1 port "+strconv.Itoa(port)+": address already in use" {
		t.Errorf("err = %v, want a ListenError: address in use", err)
	}
}

// TestWarnBeyondLoopback: an admin listener beyond loopback says so in the
// log; one on loopback does not.
func TestWarnBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		address string
		warns   bool
	}{{"0", false}, {"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		var log strings.Builder
		a, err := Listen(tc.address, http.NotFoundHandler(), slog.New(slog.NewTextHandler(&log, nil)))
		if err != nil {
			t.Fatal(err)
		}
		a.Serve()
		a.Close()
		if got := strings.Contains(log.String(), "admin listener beyond loopback"); got != tc.warns {
			t.Errorf("%s: warned %v, want %v:\n%s", tc.address, got, tc.warns, log.String())
		}
	}
}
