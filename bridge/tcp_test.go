//go:build unix

package bridge

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/wsbridge/wsbridge/wire"
	"golang.org/x/sys/unix"
)

func TestClientAddr(t *testing.T) {
	trusted := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		peer, xff, realIP, want string
	}{
		{"192.0.2.1:5000", "203.0.113.9", "", "192.0.2.1:5000"}, // not a trusted peer: headers ignored
		{"10.1.1.1:5000", "", "", "10.1.1.1:5000"},
		{"10.1.1.1:5000", "203.0.113.9", "", "203.0.113.9"},
		{"10.1.1.1:5000", "198.51.100.1, 203.0.113.9, 10.2.2.2", "", "203.0.113.9"}, // past trusted hops only
		{"10.1.1.1:5000", "10.3.3.3, 10.2.2.2", "", "10.3.3.3"},                     // all trusted: the first
		{"10.1.1.1:5000", "203.0.113.9, garbage", "", "10.1.1.1"},                   // a broken hop ends the walk
		{"10.1.1.1:5000", "[2001:db8::1]:443", "", "2001:db8::1"},
		{"10.1.1.1:5000", "", "203.0.113.5", "203.0.113.5"},
		{"10.1.1.1:5000", "", "not an ip", "10.1.1.1:5000"},
		{"[::1]:5000", "::ffff:203.0.113.9", "", "203.0.113.9"},
		{"[::ffff:10.0.0.1]:5000", "203.0.113.9", "", "203.0.113.9"},
		// A zone is another host's interface name, and may hold any text:
		// such a hop is broken, with or without a port.
		{"10.1.1.1:5000", "[fe80::1%q r]:80", "", "10.1.1.1"},
		{"10.1.1.1:5000", "203.0.113.9, fe80::1%eth0", "", "10.1.1.1"},
		{"10.1.1.1:5000", "", "[fe80::1%q r]:80", "10.1.1.1:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.realIP != "" {
			r.Header.Set("X-Real-IP", tc.realIP)
		}
		if got := trusted.ClientAddr(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q, X-Real-IP %q: got %s, want %s", tc.peer, tc.xff, tc.realIP, got, tc.want)
		}
	}
}

// TestClientAddrUnixPeer: peers of a unix socket have no address; with
// UnixPeers (--trusted-proxy unix) they are trusted, as the reverse proxy in
// front of the socket, and only then.
func TestClientAddrUnixPeer(t *testing.T) {
	for _, tc := range []struct {
		trusted   TrustedProxies
		xff, want string
	}{
		{TrustedProxies{UnixPeers}, "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{TrustedProxies{UnixPeers}, "garbage", "@"},
		{TrustedProxies{UnixPeers}, "", "@"},
		{TrustedProxies{netip.MustParsePrefix("0.0.0.0/0")}, "203.0.113.9", "@"},
		{nil, "203.0.113.9", "@"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "@"
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.UnixAddr{Name: "/run/ws.sock", Net: "unix"}))
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := tc.trusted.ClientAddr(r); got != tc.want {
			t.Errorf("trusting %v, X-Forwarded-For %q: got %s, want %s", tc.trusted, tc.xff, got, tc.want)
		}
	}
	// UnixPeers never trusts a TCP peer.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := (TrustedProxies{UnixPeers}).ClientAddr(r); got != r.RemoteAddr {
		t.Errorf("a TCP peer with only UnixPeers trusted: got %s", got)
	}
}

// TestProxyHeader checks our PROXY headers with an independent parser
// (github.com/pires/go-proxyproto).
func TestProxyHeader(t *testing.T) {
	for _, tc := range []struct {
		client, local    string
		wantSrc, wantDst string // empty: unknown addresses
	}{
		{"192.0.2.1:5000", "127.0.0.1:8080", "192.0.2.1:5000", "127.0.0.1:8080"},
		{"[2001:db8::1]:5000", "[::1]:8080", "[2001:db8::1]:5000", "[::1]:8080"},
		{"192.0.2.1", "[::1]:8080", "192.0.2.1:0", "[::1]:8080"}, // learned from a proxy; sent as IPv6, mapped
		{"@", "/run/ws.sock", "", ""},
		// Zones are dropped: the header carries bare addresses, and a zone
		// with a space would break a v1 line.
		{"[fe80::1%eth0]:5000", "[fe80::2%eth0]:8080", "[fe80::1]:5000", "[fe80::2]:8080"},
		{"fe80::1%q r", "[::1]:8080", "[fe80::1]:0", "[::1]:8080"},
	} {
		for _, version := range []int{1, 2} {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.client
			var local net.Addr = &net.UnixAddr{Name: tc.local, Net: "unix"}
			if ap, err := netip.ParseAddrPort(tc.local); err == nil {
				local = net.TCPAddrFromAddrPort(ap)
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
			raw := proxyHeader(version, r)
			if version == 1 && tc.wantSrc != "" && bytes.Count(raw, []byte(" ")) != 5 {
				t.Errorf("v1 %s: %q is not six fields", tc.client, raw)
			}
			h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(append(raw, "data"...))))
			if err != nil {
				t.Errorf("v%d %s: %q does not parse: %v", version, tc.client, raw, err)
				continue
			}
			if h.Version != byte(version) {
				t.Errorf("v%d: parsed as version %d", version, h.Version)
			}
			if tc.wantSrc == "" {
				if h.TransportProtocol != proxyproto.UNSPEC {
					t.Errorf("v%d %s: protocol %v, want unknown", version, tc.client, h.TransportProtocol)
				}
				continue
			}
			if h.SourceAddr.String() != tc.wantSrc || h.DestinationAddr.String() != tc.wantDst {
				t.Errorf("v%d %s -> %s: parsed %s -> %s, want %s -> %s", version, tc.client, tc.local,
					h.SourceAddr, h.DestinationAddr, tc.wantSrc, tc.wantDst)
			}
		}
	}
}

func TestParseTokenLine(t *testing.T) {
	for _, tc := range []struct {
		line, token string
		target      Target
		bad         bool
	}{
		{line: ""},
		{line: "   # a comment"},
		{line: "vm1: 127.0.0.1:5901", token: "vm1", target: Target{"tcp", "127.0.0.1:5901"}},
		{line: "  vm1:\thost.example:5901  ", token: "vm1", target: Target{"tcp", "host.example:5901"}},
		{line: "v6: [::1]:5900", token: "v6", target: Target{"tcp", "[::1]:5900"}},
		{line: "a:b: localhost:1", token: "a:b", target: Target{"tcp", "localhost:1"}},
		{line: "sock: unix_socket:/run/vnc.sock", token: "sock", target: Target{"unix", "/run/vnc.sock"}},
		{line: "no separator", bad: true},
		{line: "vm1:127.0.0.1:5901", bad: true}, // websockify wants white space after the colon
		{line: ": 127.0.0.1:1", bad: true},
		{line: "vm1: 127.0.0.1", bad: true},
		{line: "vm1: 127.0.0.1:70000", bad: true},
		{line: "vm1: :5900", bad: true},
		{line: "vm1: unix_socket:", bad: true},
	} {
		token, target, err := parseTokenLine(tc.line)
		if (err != nil) != tc.bad || token != tc.token || target != tc.target {
			t.Errorf("%q: got %q %v %v; want %q %v, error %v", tc.line, token, target, err, tc.token, tc.target, tc.bad)
		}
	}
}

// unreadable is a path that even root cannot read (tests run as root, for
// whom chmod 000 changes nothing): a regular file whose every read fails.
const unreadable = "/proc/self/mem"

// TestTokenFileUnreadable: a token file that cannot be read fails at start
// instead of serving no tokens; on a later read it keeps the tokens it had,
// so half an edit revokes nothing.
func TestTokenFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(unreadable, filepath.Join(dir, "mem")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling"))
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(dir, "mem"), fifo} {
		f := &TokenFile{Path: path, Log: slog.New(slog.DiscardHandler)}
		if err := f.Load(); err == nil {
			t.Errorf("%s: loaded %d tokens, want an error", path, len(f.targets))
		}
	}
	os.Remove(filepath.Join(dir, "mem"))
	f := &TokenFile{Path: dir, Log: slog.New(slog.DiscardHandler)}
	if err := f.Load(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "dangling")) {
		t.Errorf("a dangling symlink in the folder: %v, want an error naming it", err)
	}

	os.Remove(filepath.Join(dir, "dangling"))
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("vm1: 127.0.0.1:5901\n"), 0o600)
	if err := f.Load(); err != nil {
		t.Fatal(err)
	}
	// The file is replaced by one that cannot be read.
	os.Symlink(unreadable, file+".new")
	os.Rename(file+".new", file)
	if target, ok := f.Lookup("vm1"); !ok || target.Address != "127.0.0.1:5901" {
		t.Errorf("after the file became unreadable: vm1 is %v %v, want the last good target", target, ok)
	}
}

// TestHostTokenIgnoresCase: with --host-token the token is a host name, and
// host names are case-insensitive; ?token= stays exact.
func TestHostTokenIgnoresCase(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("VM-A.Example: 127.0.0.1:5901\nvm-b.example: 127.0.0.1:5902\n"), 0o600)
	tokens := &TokenFile{Path: file, Log: slog.New(slog.DiscardHandler)}
	if err := tokens.Load(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hostToken   bool
		host, query string
		want        string // the target's address; empty: refused
	}{
		{true, "vm-a.example", "", "127.0.0.1:5901"},
		{true, "VM-A.EXAMPLE:8443", "", "127.0.0.1:5901"},
		{true, "Vm-B.example", "", "127.0.0.1:5902"},
		{false, "", "VM-A.Example", "127.0.0.1:5901"},
		{false, "", "vm-a.example", ""},
	} {
		r := httptest.NewRequest("GET", "/?token="+tc.query, nil)
		r.Host = tc.host
		d := &Dial{Tokens: tokens, HostToken: tc.hostToken}
		target, err := d.target(r)
		if (tc.want == "") != (err != nil) || target.Address != tc.want {
			t.Errorf("Host %q, ?token=%q: %v %v, want %q", tc.host, tc.query, target, err, tc.want)
		}
	}
}

// openTCP opens a Dial session to addr, closed when the test ends.
func openTCP(t *testing.T, addr string) Session {
	t.Helper()
	d := &Dial{Target: Target{"tcp", addr}, Timeout: 10 * time.Second, Log: slog.New(slog.DiscardHandler)}
	s, err := d.Open(httptest.NewRequest("GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBackendKeepAlive: a backend that vanishes without a word is noticed by
// TCP keepalive.
func TestBackendKeepAlive(t *testing.T) {
	s := openTCP(t, echoBackend(t))
	raw, _ := s.(*connSession).conn.(*net.TCPConn).SyscallConn()
	var on, idle int
	_ = raw.Control(func(fd uintptr) {
		on, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, tcpKeepIdle)
	})
	if on != 1 || idle != int(backendKeepAlive.Idle/time.Second) {
		t.Fatalf("SO_KEEPALIVE %d, TCP_KEEPIDLE %d; want on, %v", on, idle, backendKeepAlive.Idle)
	}
}

// TestTCPReadIdleEndings: a read after a pause ends as Read does, and the
// session's ending says how: the backend's close (1000), its reset (1014),
// and Stop (the deadline).
func TestTCPReadIdleEndings(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(backend *net.TCPConn, s Session)
		want Ending
	}{
		{"close", func(c *net.TCPConn, _ Session) { c.Close() }, Ending{Code: wire.NormalClosure, Reason: "backend closed the connection", Status: "backend closed"}},
		{"reset", func(c *net.TCPConn, _ Session) { c.SetLinger(0); c.Close() }, Ending{Code: wire.BadGateway, Reason: "backend reset the connection", Status: "backend reset"}},
		{"stop", func(_ *net.TCPConn, s Session) { s.Stop() }, Ending{Code: wire.NormalClosure, Status: "stopped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			s := openTCP(t, l.Addr().String())
			backend, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer backend.Close()
			backend.Write([]byte("hello"))
			buf := newReadBuffer(idleBuffer)
			defer buf.release()
			r := s.(idleReader)
			if n, err := r.readIdle(buf, 1<<20); err != nil || string(buf.b[:n]) != "hello" {
				t.Fatalf("read %q, %v", buf.b[:n], err)
			}
			go tc.end(backend.(*net.TCPConn), s) // during the wait
			if n, err := r.readIdle(buf, 1<<20); n != 0 || err == nil {
				t.Fatalf("read %d, %v; want an error", n, err)
			}
			if got := s.Wait(); got != tc.want {
				t.Errorf("ending %+v, want %+v", got, tc.want)
			}
		})
	}
}
