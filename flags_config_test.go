package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
)

// flagFile runs fileFromFlags over a command line.
func flagFile(t *testing.T, args ...string) (*config.File, *flagExtras, error) {
	t.Helper()
	var f *config.File
	var x *flagExtras
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.Action = func(c *cli.Context) (err error) {
		f, x, err = fileFromFlags(c)
		return err
	}
	err := app.Run(append([]string{"wsbridge"}, args...))
	return f, x, err
}

// TestFileFromFlags: each flag lands in its key of the File, the same
// key a config file would give it.
func TestFileFromFlags(t *testing.T) {
	dir := t.TempDir()
	cat, _ := filepath.Abs(lookPath(t, "cat"))
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("a: 127.0.0.1:9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		check func(f *config.File, r *config.Route) any // what it read
		want  any
	}{
		{[]string{"cat"}, func(f *config.File, r *config.Route) any {
			return []any{f.Listen, r.Path, r.Exec.Command, r.Exec.Framing, r.Exec.Stderr, r.Exec.PassEnv, int64(r.MaxMessage)}
		}, []any{[]config.Listener{{Port: 8080}}, "/", cat, "line", "log", []string{"PATH", "LD_LIBRARY_PATH"}, int64(1 << 20)}},
		{[]string{"--address", "127.0.0.2,::1", "--port", "9", "--redirport", "10", "cat"}, func(f *config.File, _ *config.Route) any { return f.Listen },
			[]config.Listener{{Address: "127.0.0.2", Port: 9, RedirectPort: 10}, {Address: "::1", Port: 9, RedirectPort: 10}}},
		{[]string{"--unixsocket", "/tmp/ws.sock", "cat"}, func(f *config.File, _ *config.Route) any { return f.Listen }, []config.Listener{{Unix: "/tmp/ws.sock"}}},
		{[]string{"--binary", "--maxframesize", "0", "--closems", "250", "--pingms", "1500", "--idle-timeout", "90", "cat", "-u"}, func(_ *config.File, r *config.Route) any {
			return []any{r.Exec.Framing, int64(r.MaxMessage), r.CloseGrace, r.PingInterval, r.IdleTimeout, r.Exec.Args}
		}, []any{"binary", int64(1 << 30), 250 * time.Millisecond, 1500 * time.Millisecond, 90 * time.Second, []string{"-u"}}},
		{[]string{"--passstderr", "--passenv", "HOME", "--url-args", "--reverselookup", "cat"}, func(_ *config.File, r *config.Route) any {
			return []any{r.Exec.Stderr, r.Exec.PassEnv, r.Exec.URLArgs, r.Exec.ReverseLookup}
		}, []any{"pass", []string{"HOME"}, true, true}},
		{[]string{"--pty", "--title", "T", "--term-option", "fontSize=16", "--url-term-options", "", "--readonly", "--record", dir, "--record-max", "50MB", "cat"}, func(_ *config.File, r *config.Route) any {
			return []any{r.PTY.Command, r.PTY.Title, r.PTY.TermOptions, r.PTY.URLTermOptions, r.PTY.ReadOnly, r.PTY.Record, int64(r.PTY.RecordMax)}
		}, []any{cat, "T", map[string]string{"fontSize": "16"}, []string(nil), true, dir, int64(50e6)}},
		{[]string{"--compression", "on", "cat"}, func(_ *config.File, r *config.Route) any { return []any{r.Compression, r.Compresses()} }, []any{"on", true}},
		{[]string{"--pty", "cat"}, func(_ *config.File, r *config.Route) any { return []any{r.Compression, r.Compresses()} }, []any{"", true}},
		{[]string{"--pty", "--compression", "off", "cat"}, func(_ *config.File, r *config.Route) any { return []any{r.Compression, r.Compresses()} }, []any{"off", false}},
		{[]string{"--tcp", "127.0.0.1:9"}, func(_ *config.File, r *config.Route) any { return r.Compresses() }, false},
		{[]string{"--pty", "--dir", dir}, func(_ *config.File, r *config.Route) any { return []any{r.PTY.Command, r.PTY.Dir} }, []any{"", dir}},
		{[]string{"--tcp", "127.0.0.1:9", "--dial-timeout", "3s", "--proxy-protocol", "v2", "--tcp-tls", "--tcp-servername", "b"}, func(_ *config.File, r *config.Route) any { return *r.TCP },
			config.Dial{Target: "127.0.0.1:9", DialOptions: config.DialOptions{DialTimeout: 3 * time.Second, ProxyProtocol: "v2", TLS: &config.BackendTLS{ServerName: "b"}}}},
		{[]string{"--token-file", tokens, "--host-token"}, func(_ *config.File, r *config.Route) any {
			return []any{r.Tokens.File, r.Tokens.HostToken, r.Tokens.DialTimeout}
		},
			[]any{tokens, true, 10 * time.Second}},
		{[]string{"--basic-auth", "alice:a:b", "--auth-query", "", "--auth-cookie", "tok", "--auth-fail-delay", "0", "--auth-fail-limit", "3", "cat"}, func(_ *config.File, r *config.Route) any { return r.Auth },
			config.Auth{Basic: []config.BasicUser{{User: "alice", Password: "a:b"}}, Cookie: "tok", FailLimit: 3}},
		{[]string{"--origin", "a.example,b.example", "--subprotocol", "x,y", "--maxforks", "4", "--header", "X-A: 1", "--header-ws", "x-b: 2", "--base-path", "/term", "cat"}, func(_ *config.File, r *config.Route) any {
			return []any{r.Origins, r.Subprotocols, r.MaxSessions, r.Headers, r.Path}
		}, []any{[]string{"a.example,b.example"}, []string{"x", "y"}, 4, config.Headers{All: map[string]string{"X-A": "1"}, WS: map[string]string{"X-B": "2"}}, "/term/"}},
		{[]string{"--trusted-proxy", "10.0.0.0/8", "--allowed-host", "a.example", "--admin-address", "9090", "--drain-timeout", "30", "--drain-delay", "5s", "--loglevel", "DEBUG", "cat"}, func(f *config.File, _ *config.Route) any {
			return []any{f.TrustedProxies, f.AllowedHosts, f.Admin.Address, f.Timeouts.DrainTimeout, f.Timeouts.DrainDelay, f.Log}
		}, []any{[]string{"10.0.0.0/8"}, []string{"a.example"}, "9090", 30 * time.Second, 5 * time.Second, config.Log{Level: "debug", Format: "text"}}},
		{[]string{"--acme-domain", "a.example", "--acme-cache", dir, "--acme-email", "me@a.example", "cat"}, func(f *config.File, _ *config.Route) any { return *f.Listen[0].TLS.ACME },
			config.ACME{Domains: []string{"a.example"}, Cache: dir, Email: "me@a.example", Directory: letsEncrypt}},
	} {
		f, _, err := flagFile(t, tc.args...)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got := tc.check(f, &f.Routes[0]); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.args, got, tc.want)
		}
	}
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is not in PATH", name)
	return ""
}

// TestFlagErrors: what Validate refuses in a command line's File names the
// flag, in the wording the command line always had.
func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cert, _ := selfSignedFiles(t, dir)
	nope := filepath.Join(dir, "nope")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--maxforks", "-1", "cat"}, "--maxforks: must not be negative, got -1"},
		{[]string{"--auth-fail-limit", "-1", "--basic-auth", "a:b", "cat"}, "--auth-fail-limit: must not be negative, got -1"},
		{[]string{"--admin-address", "a:b:c", "cat"}, "--admin-address: "},
		{[]string{"--subprotocol", "a b", "cat"}, `--subprotocol: "a b" is not a subprotocol name`},
		{[]string{"--allowed-host", "a/b", "cat"}, "--allowed-host: "},
		{[]string{"--htpasswd", filepath.Join(dir, "nope"), "cat"}, "--htpasswd: " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{[]string{"--tcp", "127.0.0.1:0"}, `--tcp: "127.0.0.1:0": "0" is not a port (1-65535)`},
		{[]string{"--token-file", filepath.Join(dir, "nope")}, "--token-file " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{[]string{"--tcp", "127.0.0.1:9", "--proxy-protocol", "v3"}, `--proxy-protocol: "v3" is not v1 or v2`},
		{[]string{"--port", "8080", "--redirport", "8080", "cat"}, "--redirport: 8080 is the listener's own port"},
		{[]string{"--address", "127.0.0.1:80", "cat"}, `--address: "127.0.0.1:80": give the port with --port, not in the address`},
		{[]string{"--address", "127.0.0.1", "--address", "127.0.0.1", "cat"}, "--address 127.0.0.1 twice"},
		{[]string{"--address", "[::1]", "cat"}, `--address: "[::1]" is not a host name or IP address`},
		{[]string{"--ssl", "--sslcert", filepath.Join(dir, "c.pem"), "--sslkey", filepath.Join(dir, "k.pem"), "cat"}, "--sslcert: " + filepath.Join(dir, "c.pem") + ": no such file or directory"},
		// What only the build finds, in the words the libraries had.
		{[]string{"--acme-domain", "a.example", "--acme-cache", cert + "/acme", "cat"}, "--acme-cache " + cert + "/acme: not a directory"},
		{[]string{"connect", "--ca", nope, "wss://127.0.0.1:1/"}, "--ca " + nope + ": no such file or directory"},
		{[]string{"connect", "--cert", cert, "wss://127.0.0.1:1/"}, "--cert and --key come together"},
		{[]string{"connect", "--cert", cert, "--key", nope, "wss://127.0.0.1:1/"}, "--cert " + cert + ", --key " + nope + ": open " + nope + ": no such file or directory"},
	} {
		checkUsage(t, tc.args, tc.want)
	}
}

// TestFlagExtras: what a config file cannot say yet still reaches the
// server a command line builds.
func TestFlagExtras(t *testing.T) {
	srv := flagServer(t, "--once", "--exit-no-conn", "--header", "X-A: 1", "--header", "x-a: 2", "cat")
	if !srv.Once || !srv.ExitNoConn {
		t.Errorf("once %v, exit-no-conn %v", srv.Once, srv.ExitNoConn)
	}
	if h := srv.Routes[0].Header; !reflect.DeepEqual(h, http.Header{"X-A": {"1", "2"}}) {
		t.Errorf("header %v, want both values", h)
	}
	r := flagServer(t, "--tcp", "127.0.0.1:9", "--framing", "line", "--passenv", "HOME").Routes[0]
	if r.Framing != bridge.Line || !reflect.DeepEqual(r.CGIEnv, []string{"HOME"}) {
		t.Errorf("a TCP backend's framing %v, CGI env %v; want line and HOME", r.Framing, r.CGIEnv)
	}
	dir := t.TempDir()
	r = flagServer(t, "--pty", "--dir", dir).Routes[0]
	if p, ok := r.Backend.(*bridge.Pty); !ok || p.ScriptDir != dir || r.Terminal == nil || r.Framing != bridge.Terminal {
		t.Errorf("--pty --dir: backend %#v, terminal %v, framing %v", r.Backend, r.Terminal, r.Framing)
	}
}

// TestFlagListenersShareTLS: one --ssl over several --address is one
// certificate source (and one ACME client), as before the File.
func TestFlagListenersShareTLS(t *testing.T) {
	cert, key := selfSignedFiles(t, t.TempDir())
	srv := flagServer(t, "--ssl", "--sslcert", cert, "--sslkey", key, "--address", "127.0.0.1", "--address", "::1", "cat")
	if l := srv.Listeners; len(l) != 2 || l[0].TLS == nil || l[0].TLS != l[1].TLS || len(srv.Hosts.Also) != 1 {
		t.Errorf("listeners %+v, hosts %+v: want two sharing one TLS", l, srv.Hosts.Also)
	}
}
