package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
)

var discard = slog.New(slog.DiscardHandler)

// flagServer builds the server a command line describes, without listening.
func flagServer(t *testing.T, args ...string) *bridge.Server {
	t.Helper()
	var srv *bridge.Server
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.Action = func(c *cli.Context) (err error) {
		srv, err = buildServer(c, discard)
		return err
	}
	if err := app.Run(append([]string{"wsbridge"}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return srv
}

// fileServer builds the server a config file (its text) describes, in a
// folder of its own, without listening.
func fileServer(t *testing.T, text string) (*bridge.Server, error) {
	t.Helper()
	return buildConfigServer(fileConfig(t, text), discard)
}

// sameRoute compares what a route serves, leaving out loggers (a file's
// routes log with their names).
func sameRoute(t *testing.T, what string, flags, file *bridge.Route) {
	t.Helper()
	for _, b := range []bridge.Backend{flags.Backend, file.Backend} {
		if s, ok := b.(*bridge.Shared); ok {
			s.Log = nil
			b = s.Backend
		}
		switch b := b.(type) {
		case *bridge.Exec:
			b.Log = nil
			if len(b.Args) == 0 {
				b.Args = nil // none either way
			}
		case *bridge.Pty:
			b.Log = nil
			if len(b.Args) == 0 {
				b.Args = nil
			}
		case *bridge.Dial:
			b.Log = nil
			if tr, ok := b.Tokens.(*bridge.TokenRedis); ok {
				tr.Close()
				b.Tokens = sourceName(tr.String()) // its client holds functions, never DeepEqual
			}
		}
	}
	sameFields(t, what, []field{
		{"backend", flags.Backend, file.Backend},
		{"framing", flags.Framing, file.Framing},
		{"max message", flags.MaxMessage, file.MaxMessage},
		{"ping", flags.PingInterval, file.PingInterval},
		{"compression", flags.Compression, file.Compression},
		{"subprotocols", flags.Subprotocols, file.Subprotocols},
		{"terminal", flags.Terminal, file.Terminal},
		{"max sessions", flags.MaxSessions, file.MaxSessions},
		{"headers", flags.Header, file.Header},
	})
}

// sourceName stands for a token source, by what it says it is.
type sourceName string

func (s sourceName) Target(context.Context, string, bool) (bridge.Target, error) {
	return bridge.Target{}, nil
}
func (s sourceName) String() string { return string(s) }

// TestConfigSameAsFlags: the same settings by flags and by a file build the
// same route, since both paths share their constructors.
func TestConfigSameAsFlags(t *testing.T) {
	for _, tc := range []struct {
		what  string
		flags []string
		file  string
	}{
		{"pty", []string{"--pty", "--closems", "200", "--passenv", "PATH,HOME", "--url-args", "--title", "T", "--term-option", "fontSize=16", "--maxforks", "3", "--header", "X-A: b", "--", "sh", "-c", "true"},
			"routes:\n  - path: /\n    close_grace: 200ms\n    max_sessions: 3\n    headers: {all: {X-A: b}}\n    pty: {command: sh, args: [-c, 'true'], pass_env: [PATH, HOME], url_args: true, title: T, term_options: {fontSize: '16'}}\n"},
		{"exec", []string{"--maxframesize", "4096", "--pingms", "1500", "--stderr", "json", "cat"},
			"routes:\n  - path: /\n    max_message: 4096\n    ping_interval: 1.5s\n    exec: {command: cat, stderr: json}\n"},
		{"shared", []string{"--shared-options", "start=always,restart=on-failure,replay=3,queue=64KiB,slow=skip,input=none", "--framing", "raw", "cat"},
			"routes:\n  - path: /\n    exec: {command: cat, framing: raw, shared: {start: always, restart: on-failure, replay: 3, queue: 64KiB, slow: skip, input: none}}\n"},
		{"shared, defaults", []string{"--shared", "cat"}, "routes:\n  - path: /\n    exec: {command: cat, shared: {}}\n"},
		{"lasting", []string{"--pty", "--linger", "10m", "--scrollback", "64KiB", "sh"}, "routes:\n  - path: /\n    pty: {command: sh, linger: 10m, scrollback: 64KiB}\n"},
		{"lasting, defaults", []string{"--pty", "--linger", "5m", "sh"}, "routes:\n  - path: /\n    pty: {command: sh, linger: 5m}\n"},
		{"lasting, one writer", []string{"--pty", "--linger", "5m", "--writers", "one", "sh"}, "routes:\n  - path: /\n    pty: {command: sh, linger: 5m, writers: one}\n"},
		{"tcp", []string{"--tcp", "127.0.0.1:9", "--dial-timeout", "3s", "--proxy-protocol", "v2", "--subprotocol", "x"},
			"routes:\n  - path: /\n    subprotocols: [x]\n    tcp: {target: 127.0.0.1:9, dial_timeout: 3s, proxy_protocol: v2}\n"},
	} {
		file, err := fileServer(t, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		sameRoute(t, tc.what, flagServer(t, tc.flags...).Routes[0], file.Routes[0])
	}
}

func TestConfigServer(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("vnc: 127.0.0.1:5900\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := fileServer(t, `
listen: [{port: 0}]
limits: {max_sessions: 2}
timeouts: {header: 3s}
routes:
  - path: /vnc/
    close_grace: 2s
    max_sessions: 5
    tokens: {file: `+tokens+`, host_token: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	r := srv.Routes[0]
	if r.MaxSessions != 5 || srv.MaxSessions != 2 {
		t.Errorf("max_sessions: the route's %d, the server's %d; want 5 and 2", r.MaxSessions, srv.MaxSessions)
	}
	if srv.HeaderTimeout.Seconds() != 3 || srv.ShutdownGrace != shutdownGrace(2e9) {
		t.Errorf("header timeout %v, shutdown %v", srv.HeaderTimeout, srv.ShutdownGrace)
	}
	if !srv.Hosts.HostTokens {
		t.Error("host tokens are not answered")
	}
	if r.Framing != bridge.Binary || r.Subprotocols[0] != "binary" || r.Auth != nil {
		t.Errorf("framing %v, subprotocols %v, auth %v", r.Framing, r.Subprotocols, r.Auth)
	}

	two, err := fileServer(t, "limits: {max_sessions: 2}\nlisten: [{port: 0}, {unix: ws.sock}]\nroutes:\n  - {path: /a, exec: {command: cat}}\n  - {path: /b, exec: {command: cat}}\n")
	if err != nil || two.MaxSessions != 2 || len(two.Listeners) != 2 || !strings.HasSuffix(two.Listeners[1].Unix, "/ws.sock") {
		t.Errorf("two listeners, limits.max_sessions over two routes: %v, %+v", err, two)
	}
}

// TestFlagListener: the command line fills one listener.
func TestFlagListener(t *testing.T) {
	srv := flagServer(t, "--address", "127.0.0.2", "--port", "9", "--redirport", "10", "cat")
	if l := srv.Listeners; len(l) != 1 || l[0].Addresses[0] != "127.0.0.2" || l[0].Port != 9 || l[0].RedirPort != 10 || l[0].TLS != nil {
		t.Errorf("listeners %+v", l)
	}
}

// field is one value built both ways: from flags and from a file.
type field struct {
	name       string
	flag, file any
}

// sameFields reports each field whose two values differ.
func sameFields(t *testing.T, what string, fields []field) {
	t.Helper()
	for _, f := range fields {
		if !reflect.DeepEqual(f.flag, f.file) {
			t.Errorf("%s: %s from flags %#v, from the file %#v", what, f.name, f.flag, f.file)
		}
	}
}

// TestConfigFileErrorsNameKeys: a file that breaks between Validate and
// the build (or that only the build can check) is an error at its key in
// the config file, FILE:LINE:COL, and names no command-line flag.
func TestConfigFileErrorsNameKeys(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedFiles(t, dir)
	ca, htpasswd, tokens, jwtKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "htpasswd"), filepath.Join(dir, "tokens"), filepath.Join(dir, "jwt.key")
	write := func(file, text string) {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsFile := "listen: [{port: 0, tls: {certs: [{cert: " + cert + ", key: " + key + "}], client_ca: " + ca + "}}]\nroutes: [{path: /, exec: {command: cat}}]\n"
	authFile := "routes:\n  - path: /\n    exec: {command: cat}\n    auth: {htpasswd: " + htpasswd + ", bearer_token_file: " + tokens + ", jwt: {key: " + jwtKey + "}}\n"
	for _, tc := range []struct {
		name, text string
		spoil      func() // after Validate; nil: only the build sees it
		key, msg   string
	}{
		{"certificate pair", tlsFile, func() { writeSelfSigned(t, filepath.Join(dir, "other.pem"), key, time.Now().Add(time.Hour)) },
			"listen[0].tls.certs[0]", "private key does not match public key"},
		{"expired certificate", tlsFile, func() { writeSelfSigned(t, cert, key, time.Now().Add(-time.Minute)) },
			"listen[0].tls.certs[0]", "certificate expired on"},
		{"client CA", tlsFile, func() { write(ca, "not PEM\n") },
			"listen[0].tls.client_ca", ca + ": no PEM certificate in it"},
		{"ACME cache", "listen: [{port: 0, tls: {acme: {domains: [a.example], cache: " + htpasswd + "/acme}}}]\nroutes: [{path: /, exec: {command: cat}}]\n", nil,
			"listen[0].tls.acme.cache", htpasswd + "/acme: not a directory"},
		{"htpasswd", authFile, func() { os.Remove(htpasswd) },
			"routes[0].auth.htpasswd", htpasswd + ": no such file or directory"},
		{"bearer token file", authFile, func() { os.Remove(tokens) },
			"routes[0].auth.bearer_token_file", tokens + ": no such file or directory"},
		{"JWT key", authFile, func() { write(jwtKey, "short\n") },
			"routes[0].auth.jwt.key", jwtKey + ": an HS256 secret must be at least 32 bytes, this one is 5"},
		{"backend CA", "routes: [{path: /, tcp: {target: 127.0.0.1:1, tls: {ca: " + ca + "}}}]\n", func() { write(ca, "not PEM\n") },
			"routes[0].tcp.tls.ca", ca + ": no PEM certificate in it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeSelfSigned(t, cert, key, time.Now().Add(time.Hour))
			writeSelfSigned(t, ca, filepath.Join(dir, "ca.key"), time.Now().Add(time.Hour))
			write(htpasswd, "# nobody\n")
			write(tokens, "# no tokens\n")
			write(jwtKey, strings.Repeat("s", 32))
			path := filepath.Join(dir, "wsbridge.yaml")
			write(path, tc.text)
			f, err := config.Load(path)
			if err == nil {
				err = f.Validate()
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.spoil != nil {
				tc.spoil()
			}
			_, err = buildConfigServer(f, discard)
			var e *config.Error
			if !errors.As(err, &e) || e.File != path || e.Line == 0 || e.Column == 0 || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) || strings.Contains(err.Error(), "--") {
				t.Errorf("got %v\nwant %s:LINE:COL: %s: ...%s... and no flag", err, path, tc.key, tc.msg)
			}
		})
	}
}

// TestAuthFileLogNames: a bad line in an htpasswd file is logged under the
// config key that gave the file, and under its flag on the command line.
func TestAuthFileLogNames(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("no colon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	skipped := func(build func(log *slog.Logger) error) string {
		t.Helper()
		var out strings.Builder
		if err := build(slog.New(slog.NewJSONHandler(&out, nil))); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(out.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			if m["at"] == htpasswd+":1" {
				return fmt.Sprint(m["msg"])
			}
		}
		t.Fatalf("no line skipped in\n%s", out.String())
		return ""
	}
	path := filepath.Join(dir, "wsbridge.yaml")
	if err := os.WriteFile(path, []byte("routes: [{path: /, exec: {command: cat}, auth: {htpasswd: "+htpasswd+"}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	fromFile := skipped(func(log *slog.Logger) error { _, err := buildConfigServer(f, log); return err })
	if fromFile != "routes[0].auth.htpasswd: line skipped" {
		t.Errorf("from a config file: %q", fromFile)
	}
	fromFlags := skipped(func(log *slog.Logger) error {
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		app.Action = func(c *cli.Context) error { _, err := buildServer(c, log); return err }
		return app.Run([]string{"wsbridge", "--htpasswd", htpasswd, "cat"})
	})
	if fromFlags != "--htpasswd: line skipped" {
		t.Errorf("from the command line: %q", fromFlags)
	}
}

// TestCertificateReloadLogNamesFiles: a certificate that breaks while
// served is logged with its files, not a flag.
func TestCertificateReloadLogNamesFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedFiles(t, dir)
	var out strings.Builder
	log := slog.New(slog.NewJSONHandler(&out, nil))
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	var srv *bridge.Server
	app.Action = func(c *cli.Context) (err error) { srv, err = buildServer(c, log); return err }
	if err := app.Run([]string{"wsbridge", "--ssl", "--sslcert", cert, "--sslkey", key, "cat"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Listeners[0].TLS.GetCertificate(&tls.ClientHelloInfo{}); err != nil {
		t.Fatal(err) // the previous certificate stays in use
	}
	want := `"err":"` + cert + " / " + key + ": tls: failed to find any PEM data in certificate input"
	if !strings.Contains(out.String(), `"msg":"certificate not reloaded; the previous one stays in use"`) || !strings.Contains(out.String(), want) {
		t.Errorf("want %s in\n%s", want, out.String())
	}
}

// TestConfigLasting: pty.linger and pty.scrollback reach the backend, with
// scrollback's default; max_sessions bounds its terminals too.
func TestConfigLasting(t *testing.T) {
	for text, want := range map[string][2]int64{
		"routes:\n  - path: /\n    pty: {command: sh, linger: 10m}\n":                   {int64(10 * time.Minute), 1 << 20},
		"routes:\n  - path: /\n    pty: {command: sh, linger: 1s, scrollback: 64KiB}\n": {int64(time.Second), 64 << 10},
		"routes:\n  - path: /\n    pty: {command: sh}\n":                                {0, 0},
	} {
		s, err := fileServer(t, text)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Routes[0].Backend.(*bridge.Pty)
		if got := [2]int64{int64(p.Linger), int64(p.Scrollback)}; got != want {
			t.Errorf("%s: linger and scrollback %v, want %v", text, got, want)
		}
	}
	s, err := fileServer(t, "routes:\n  - path: /\n    max_sessions: 3\n    pty: {command: sh, linger: 1m}\n")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Routes[0].Backend.(*bridge.Pty).MaxTerminals; n != 3 {
		t.Errorf("max_sessions 3: MaxTerminals %d", n)
	}
	for text, want := range map[string]bool{"": false, "writers: all": false, "writers: one": true} {
		s, err := fileServer(t, "routes:\n  - path: /\n    pty: {command: sh, linger: 1m, "+text+"}\n")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Routes[0].Backend.(*bridge.Pty).OneWriter; got != want {
			t.Errorf("%q: OneWriter %v", text, got)
		}
	}
}
