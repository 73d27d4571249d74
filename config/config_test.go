package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture makes a folder with every kind of file a config names, and
// returns it.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"scripts", "static", "cgi", "record"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("scripts/hello.sh", "#!/bin/sh\necho hello\n", 0o755)
	write("notes.txt", "not a program\n", 0o644)
	write("term.password", "s3cret\nignored\n", 0o600)
	write("empty.password", "\n", 0o600)
	write("htpasswd", "", 0o600)
	write("ssh.tokens", "alice 0123456789abcdef\n", 0o600)
	write("jwt.key", strings.Repeat("k", 32)+"\n", 0o600)
	write("short.key", "too short\n", 0o600)
	write("targets", "vm1: 127.0.0.1:5901\n", 0o600)
	write("index.html", "<html></html>\n", 0o644)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write("cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	write("key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	return dir
}

// loadText writes text as DIR/wsbridge.yaml, loads and validates it.
func loadText(t *testing.T, dir, text string) (*File, error) {
	t.Helper()
	path := filepath.Join(dir, "wsbridge.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	return f, f.Validate()
}

// complete sets every key there is, relative paths and all.
const complete = `
listen:
  - address: 127.0.0.1
    port: 8443
    redirect_port: 8080
    tls:
      certs:
        - {cert: cert.pem, key: key.pem}
      acme: {domains: [shell.example.com], cache: acme, email: ops@example.com}
      client_ca: cert.pem
  - unix: wsbridge.sock
  - address: ::1
  - systemd: wsbridge.socket
trusted_proxies: [127.0.0.1, unix]
allowed_hosts: [shell.example.com, "*.example.org"]
log: {level: info, format: json}
limits: {max_sessions: 100}
timeouts: {header: 5s, shutdown: 30s}
admin: {address: "127.0.0.1:9090"}
defaults:
  origins: [https://app.example.com]
  auth:
    bearer_token_file: ssh.tokens
    fail_limit: 0
  max_message: 64KiB
  ping_interval: 30s
  headers:
    all: {X-Frame-Options: DENY}
routes:
  - path: /term/
    name: terminal
    pty:
      command: sh
      args: [-l]
      pass_env: [PATH, TERM]
      title: a shell
      term_options: {fontSize: "16", theme: '{"background":"#202020"}'}
      url_term_options: []
      index: index.html
      readonly: true
      record: record
      record_max: 50MB
    auth:
      basic:
        - {user: ann, password_file: term.password}
        - {user: bob, password_env: WSBRIDGE_TEST_PASSWORD}
        - {user: cy, password: inline}
      htpasswd: htpasswd
      jwt: {key: jwt.key, audience: wsbridge}
      query: ""
      cookie: token
      fail_delay: 2s
      client_cn: [ann]
    subprotocols: [tty]
    max_sessions: 4
    idle_timeout: 1h
    close_grace: 500ms
    compression: "off"
  - path: /api/
    exec:
      dir: scripts
      framing: line
      stderr: json
      url_args: true
      reverse_lookup: true
    cgi: cgi
    headers:
      ws: {X-A: b}
      http: {Cache-Control: no-store}
  - path: /echo
    exec: {command: scripts/hello.sh, framing: raw, stderr: pass, unbuffer: true}
    dev_console: true
    compression: on
  - path: /vnc/
    static: static
    tcp:
      target: 127.0.0.1:5900
      tls: {server_name: vnc.internal}
      proxy_protocol: v2
      dial_timeout: 3s
  - path: /sock
    unix: {target: app.sock, tls: {ca: cert.pem, server_name: app}}
  - path: /vm
    tokens: {file: targets, host_token: true}
`

// TestLoadComplete: a file with every key loads and validates; relative
// paths are the file's folder's; routes inherit what they do not set from
// defaults:, and built-in defaults fill the rest.
func TestLoadComplete(t *testing.T) {
	dir := fixture(t)
	t.Setenv("WSBRIDGE_TEST_PASSWORD", "from-env")
	f, err := loadText(t, dir, complete)
	if err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("listen[0].tls", *f.Listen[0].TLS, ServerTLS{
		Certs:    []CertPair{{at("cert.pem"), at("key.pem")}},
		ACME:     &ACME{Domains: []string{"shell.example.com"}, Cache: at("acme"), Email: "ops@example.com"},
		ClientCA: at("cert.pem"),
	})
	check("listen[1]", f.Listen[1], Listener{Unix: at("wsbridge.sock")})
	check("listen[2]", f.Listen[2], Listener{Address: "::1", Port: 8080})
	check("listen[3] (no default port)", f.Listen[3], Listener{Systemd: "wsbridge.socket"})
	check("timeouts", f.Timeouts, Timeouts{Header: 5 * time.Second, Shutdown: 30 * time.Second})
	check("admin", f.Admin, Admin{Address: "127.0.0.1:9090"})

	term, api, echo, vnc, sock, vm := f.Routes[0], f.Routes[1], f.Routes[2], f.Routes[3], f.Routes[4], f.Routes[5]
	check("term.name", term.Name, "terminal")
	check("api.name", api.Name, "/api/")
	check("term.pty", *term.PTY, PTY{
		Program:        Program{Command: "sh", Args: []string{"-l"}, PassEnv: []string{"PATH", "TERM"}},
		Title:          "a shell",
		TermOptions:    map[string]string{"fontSize": "16", "theme": `{"background":"#202020"}`},
		URLTermOptions: []string{}, Index: at("index.html"), ReadOnly: true, Record: at("record"), RecordMax: 50e6,
	})
	check("term.auth.basic", term.Auth.Basic, []BasicUser{{User: "ann", PasswordFile: at("term.password")}, {User: "bob", PasswordEnv: "WSBRIDGE_TEST_PASSWORD"}, {User: "cy", Password: "inline"}})
	for i, want := range []string{"s3cret", "from-env", "inline"} {
		if got, err := term.Auth.Basic[i].Secret(); got != want || err != nil {
			t.Errorf("basic[%d].Secret() = %q, %v; want %q", i, got, err, want)
		}
	}
	check("term.auth.query", term.Auth.Query, "")
	check("term.auth.fail_limit (built-in, not defaults': auth is replaced whole)", term.Auth.FailLimit, 10)
	check("term.origins (inherited)", term.Origins, []string{"https://app.example.com"})
	check("term.max_message (inherited)", term.MaxMessage, Size(64<<10))
	check("term.close_grace", term.CloseGrace, 500*time.Millisecond)

	check("api.exec", *api.Exec, Exec{Program: Program{PassEnv: []string{"PATH", "LD_LIBRARY_PATH"}, URLArgs: true, ReverseLookup: true}, Dir: at("scripts"), Framing: "line", Stderr: "json"})
	check("api.auth (inherited)", api.Auth, Auth{BearerTokenFile: at("ssh.tokens"), Query: "access_token", FailDelay: time.Second})
	check("api.headers (its own, replacing defaults')", api.Headers, Headers{WS: map[string]string{"X-A": "b"}, HTTP: map[string]string{"Cache-Control": "no-store"}})
	check("echo.headers (inherited)", echo.Headers, Headers{All: map[string]string{"X-Frame-Options": "DENY"}})
	check("echo.exec.command", echo.Exec.Command, at("scripts/hello.sh"))
	check("echo.exec.unbuffer", echo.Exec.Unbuffer, true)
	check("api.exec.unbuffer (default)", api.Exec.Unbuffer, false)
	check("vnc.tcp", *vnc.TCP, Dial{Target: "127.0.0.1:5900", DialOptions: DialOptions{TLS: &BackendTLS{ServerName: "vnc.internal"}, ProxyProtocol: "v2", DialTimeout: 3 * time.Second}})
	check("sock.unix", *sock.Unix, Dial{Target: at("app.sock"), DialOptions: DialOptions{TLS: &BackendTLS{CA: at("cert.pem"), ServerName: "app"}, DialTimeout: 10 * time.Second}})
	check("vm.tokens", *vm.Tokens, Tokens{File: at("targets"), HostToken: true, DialOptions: DialOptions{DialTimeout: 10 * time.Second}})
	for i, kind := range []string{"pty", "exec", "exec", "tcp", "unix", "tokens"} {
		check("Kind", f.Routes[i].Kind(), kind)
	}
	// compression: auto by default, which is on for pty routes only.
	check("api.compression (built-in: auto)", api.Compression, "")
	for i, want := range []bool{false, false, true, false, false, false} {
		check(f.Routes[i].Path+" Compresses", f.Routes[i].Compresses(), want)
	}
	pty := Route{PTY: &PTY{}, Settings: Settings{Compression: "auto"}}
	check("an auto pty route Compresses", pty.Compresses(), true)
}

// TestLoadMinimal: a route alone gets the command line's defaults.
func TestLoadMinimal(t *testing.T) {
	f, err := loadText(t, t.TempDir(), "routes: [{path: /, exec: {command: cat}}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Listener{{Port: 8080}}; !reflect.DeepEqual(f.Listen, want) {
		t.Errorf("listen = %+v, want %+v", f.Listen, want)
	}
	r := f.Routes[0]
	want := Settings{MaxMessage: 1 << 20, Auth: Auth{Query: "access_token", FailDelay: time.Second, FailLimit: 10}}
	if !reflect.DeepEqual(r.Settings, want) || r.Name != "/" || r.Exec.Framing != "line" || r.Exec.Stderr != "log" {
		t.Errorf("route = %+v, exec %+v", r, *r.Exec)
	}
}

// TestLoadShared: an empty shared: gets its defaults; keys load as given.
func TestLoadShared(t *testing.T) {
	f, err := loadText(t, t.TempDir(), "routes:\n  - {path: /a, exec: {command: cat, shared: {}}}\n  - {path: /b, exec: {command: cat, shared: {start: always, restart: on-failure, replay: 10, queue: 1MiB, slow: skip, input: none}}}\n")
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *f.Routes[0].Exec.Shared, (Shared{Start: "first", Restart: "never", Queue: 256 << 10, Slow: "drop", Input: "all"}); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	if got, want := *f.Routes[1].Exec.Shared, (Shared{Start: "always", Restart: "on-failure", Replay: 10, Queue: 1 << 20, Slow: "skip", Input: "none"}); !reflect.DeepEqual(got, want) {
		t.Errorf("given: %+v, want %+v", got, want)
	}
}

// TestLoadDrain: the drain's timeouts load as given.
func TestLoadDrain(t *testing.T) {
	f, err := loadText(t, t.TempDir(), "timeouts: {drain_timeout: 5m, drain_delay: 10s}\nroutes: [{path: /, exec: {command: cat}}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Timeouts{DrainTimeout: 5 * time.Minute, DrainDelay: 10 * time.Second}); f.Timeouts != want {
		t.Errorf("timeouts = %+v, want %+v", f.Timeouts, want)
	}
}

// TestAnchors: YAML anchors and aliases stand for their values.
func TestAnchors(t *testing.T) {
	f, err := loadText(t, t.TempDir(), "routes:\n  - {path: /a, exec: &cat {command: cat, framing: raw}}\n  - {path: /b, exec: *cat}\n")
	if err != nil {
		t.Fatal(err)
	}
	if b := f.Routes[1].Exec; b.Command != "cat" || b.Framing != "raw" {
		t.Errorf("routes[1].exec = %+v", *b)
	}
}

// TestBadFiles: each mistake is one error that names the file, the line and
// column, and the key.
func TestBadFiles(t *testing.T) {
	dir := fixture(t)
	t.Setenv("WSBRIDGE_TEST_UNSET", "")
	const route = "routes: [{path: /x, exec: {command: cat}}]\n"
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "lisen: []\n" + route, `F:1:1: lisen: unknown key (did you mean listen?)`},
		{"unknown key, no near one", "log: {colour: red}\n" + route, `F:1:7: log.colour: unknown key; known here: level, format`},
		{"unknown key deep", "routes:\n  - path: /x\n    exec: {command: cat, dir_: x}\n", `F:3:26: routes[0].exec.dir_: unknown key (did you mean dir?)`},
		{"duplicate key", "routes:\n  - path: /x\n    path: /y\n    exec: {command: cat}\n", `F:3:5: routes[0].path: given twice (first on line 2)`},
		{"duplicate header", route + "defaults:\n  headers:\n    all: {X-A: b, X-A: c}\n", `F:4:19: defaults.headers.all.X-A: given twice (first on line 4)`},
		{"merge key", "base: &b {command: cat}\nroutes: [{path: /x, exec: {<<: *b}}]\n", `F:1:1: base: unknown key; known here: listen, trusted_proxies, allowed_hosts, log, limits, timeouts, admin, defaults, routes`},
		{"merge key in a route", "routes: [{path: /x, exec: {<<: {command: cat}}}]\n", `F:1:28: routes[0].exec: merge keys (<<) are not taken: give a route's common settings in defaults:`},
		{"wrong type: number", "routes: [{path: /x, exec: {command: cat}, max_sessions: ten}]\n", `F:1:57: routes[0].max_sessions: want a whole number, got "ten"`},
		{"wrong type: bool", "routes: [{path: /x, exec: {command: cat}, dev_console: yes}]\n", `F:1:56: routes[0].dev_console: want true or false, got "yes"`},
		{"wrong type: list", "allowed_hosts: example.com\n" + route, `F:1:16: allowed_hosts: want a list, got "example.com"`},
		{"wrong type: mapping", "routes:\n  path: /x\n", `F:2:3: routes: want a list, got keys and values`},
		{"wrong type: string", "routes: [{path: [/x], exec: {command: cat}}]\n", `F:1:17: routes[0].path: want a string, got a list`},
		{"wrong type: struct", "log: json\n" + route, `F:1:6: log: want keys and values, got "json"`},
		{"bad duration", route + "defaults: {idle_timeout: 90}\n", `F:2:26: defaults.idle_timeout: "90" is not a duration such as 90s, 5m or 1h30m`},
		{"bad size", route + "defaults: {max_message: 1M}\n", `F:2:25: defaults.max_message: "1M" is not a size such as 50MB, 1GiB or 1048576 (bytes)`},
		{"duration out of range", route + "defaults: {ping_interval: 25h}\n", `F:2:27: defaults.ping_interval: 25h is out of range (0 to 24h)`},
		{"bad compression", route + "defaults: {compression: yes}\n", `F:2:25: defaults.compression: "yes" is not auto, on or off`},
		{"size out of range", route + "defaults: {max_message: 2GiB}\n", `F:2:25: defaults.max_message: 2147483648 bytes is out of range (1 byte to 1GiB)`},
		{"bad YAML", "routes:\n  - path: /x\n    exec: {command: cat\n", `F:2: did not find expected ',' or '}'`},
		{"two documents", route + "---\n" + route, `F:2:1: a second YAML document: give one`},
		{"empty", "", `F: routes: no routes: give at least one`},
		{"no listeners", "listen: []\n" + route, `F:1:9: listen: no listeners: give at least one (or leave listen: out for loopback port 8080)`},
		{"two backends", "routes:\n  - path: /x\n    exec: {command: cat}\n    tcp: {target: 127.0.0.1:22}\n", `F:4:10: routes[0].tcp: a route has one backend; this one has exec and tcp`},
		{"no backend", "routes:\n  - path: /x\n    static: static\n", `F:2:5: routes[0]: no backend: give one of exec, pty, tcp, unix, tokens`},
		{"two routes on one path", "routes:\n  - {path: /x, exec: {command: cat}}\n  - {path: /x, tcp: {target: 127.0.0.1:22}, name: other}\n", `F:3:12: routes[1].path: /x is the path of routes[0] too: give each path one route`},
		{"no path", "routes: [{exec: {command: cat}}]\n", `F:1:10: routes[0].path: missing: give the route's path, such as /ssh or /term/`},
		{"relative path", "routes: [{path: term/, exec: {command: cat}}]\n", `F:1:17: routes[0].path: "term/" is not a clean path such as /ssh or /term/`},
		{"unclean path", "routes: [{path: /a//b/, exec: {command: cat}}]\n", `F:1:17: routes[0].path: "/a//b/" is not a clean path such as /ssh or /term/`},
		{"not executable", "routes: [{path: /x, exec: {command: ./notes.txt}}]\n", `F:1:37: routes[0].exec.command: D/notes.txt is not an executable file`},
		{"not in PATH", "routes: [{path: /x, pty: {command: no-such-program-here}}]\n", `F:1:36: routes[0].pty.command: "no-such-program-here" is not a program in PATH`},
		{"command and dir", "routes: [{path: /x, exec: {command: cat, dir: scripts}}]\n", `F:1:47: routes[0].exec.dir: give a command or a dir, not both`},
		{"args without command", "routes: [{path: /x, exec: {dir: scripts, args: [a]}}]\n", `F:1:48: routes[0].exec.args: args need a command`},
		{"missing dir", "routes: [{path: /x, exec: {dir: nope}}]\n", `F:1:33: routes[0].exec.dir: D/nope: no such file or directory`},
		{"bad framing", "routes: [{path: /x, exec: {command: cat, framing: text}}]\n", `F:1:51: routes[0].exec.framing: unknown framing "text" (want line, raw or binary)`},
		{"shared: bad start", "routes: [{path: /x, exec: {command: cat, shared: {start: later}}}]\n", `F:1:58: routes[0].exec.shared.start: unknown value "later" (want first or always)`},
		{"shared: bad slow", "routes: [{path: /x, exec: {command: cat, shared: {slow: block}}}]\n", `F:1:57: routes[0].exec.shared.slow: unknown value "block" (want drop, skip or wait)`},
		{"shared: bad restart", "routes: [{path: /x, exec: {command: cat, shared: {restart: yes}}}]\n", `F:1:60: routes[0].exec.shared.restart: unknown value "yes" (want never, on-failure or always)`},
		{"shared: bad input", "routes: [{path: /x, exec: {command: cat, shared: {input: some}}}]\n", `F:1:58: routes[0].exec.shared.input: "some" is not one of all, none`},
		{"shared: linger with always", "routes: [{path: /x, exec: {command: cat, shared: {start: always, linger: 5s}}}]\n", `F:1:74: routes[0].exec.shared.linger: start always keeps the program running: linger is for start first`},
		{"shared: tiny queue", "routes: [{path: /x, exec: {command: cat, shared: {queue: 100}}}]\n", `F:1:58: routes[0].exec.shared.queue: 100 bytes is out of range (1024 to 1073741824)`},
		{"shared: negative replay", "routes: [{path: /x, exec: {command: cat, shared: {replay: -1}}}]\n", `F:1:59: routes[0].exec.shared.replay: -1 is out of range (0 to 1048576 messages)`},
		{"shared: writers without auth", "routes: [{path: /x, exec: {command: cat, shared: {writers: [alice]}}}]\n", `F:1:60: routes[0].exec.shared.writers: writers are users: the route needs auth (basic, htpasswd, bearer_token_file, jwt or client_cn) to know who a client is`},
		{"shared: writers with input none", "routes: [{path: /x, auth: {client_cn: [alice]}, exec: {command: cat, shared: {input: none, writers: [alice]}}}]\n", `F:1:101: routes[0].exec.shared.writers: with input none nobody writes: give one or the other`},
		{"shared dir", "routes: [{path: /x, exec: {dir: scripts, shared: {}}}]\n", `F:1:50: routes[0].exec.shared: a shared route runs one command, not a dir of scripts`},
		{"json stderr, raw framing", "routes: [{path: /x, exec: {command: cat, framing: raw, stderr: json}}]\n", `F:1:64: routes[0].exec.stderr: json sends a JSON text message per line: it needs framing line, not raw`},
		{"missing certificate", "listen: [{port: 443, tls: {certs: [{cert: missing.pem, key: key.pem}]}}]\n" + route, `F:1:43: listen[0].tls.certs[0].cert: D/missing.pem: no such file or directory`},
		{"mismatched certificate", "listen: [{port: 443, tls: {certs: [{cert: cert.pem, key: cert.pem}]}}]\n" + route, `F:1:36: listen[0].tls.certs[0]: tls: found a certificate rather than a key in the PEM for the private key`},
		{"TLS without certificates", "listen: [{port: 443, tls: }]\n" + route, `F:1:27: listen[0].tls: give certs (cert and key files) or acme`},
		{"bad client CA", "listen: [{port: 443, tls: {client_ca: notes.txt, acme: {domains: [a.example]}}}]\n" + route, `F:1:39: listen[0].tls.client_ca: D/notes.txt: no PEM certificate in it`},
		{"unix listener with a port", "listen: [{unix: s.sock, port: 80}]\n" + route, `F:1:31: listen[0].port: a unix listener has no port`},
		{"address with a port", "listen: [{address: \"127.0.0.1:80\"}]\n" + route, `F:1:20: listen[0].address: "127.0.0.1:80": give the port in port:, not in the address`},
		{"port out of range", "listen: [{port: 70000}]\n" + route, `F:1:17: listen[0].port: 70000 is not a port (0-65535)`},
		{"the same listener twice", "listen: [{port: 80}, {port: 80}]\n" + route, `F:1:22: listen[1]: the same listener as listen[0]`},
		{"a port that is another's redirect port", "listen: [{port: 443, redirect_port: 80}, {port: 80}]\n" + route, `F:1:49: listen[1].port: 80 is listen[0].redirect_port too`},
		{"a redirect port that is another's port", "listen: [{port: 80}, {port: 443, redirect_port: 80}]\n" + route, `F:1:49: listen[1].redirect_port: 80 is listen[0].port too`},
		{"one redirect port for two listeners", "listen: [{port: 443, redirect_port: 80}, {port: 8443, redirect_port: 80}]\n" + route, `F:1:70: listen[1].redirect_port: 80 is listen[0].redirect_port too`},
		{"systemd listener with a port", "listen: [{systemd: web, port: 80}]\n" + route, `F:1:31: listen[0].port: a systemd listener has no port: its socket unit says where it listens`},
		{"systemd listener with a path", "listen: [{systemd: web, unix: s.sock}]\n" + route, `F:1:31: listen[0].unix: a systemd listener has no unix: its socket unit says where it listens`},
		{"systemd name with a colon", "listen: [{systemd: \"a:b\"}]\n" + route, `F:1:20: listen[0].systemd: "a:b" is not a FileDescriptorName= (printable ASCII without ':', at most 255 characters)`},
		{"empty systemd name", "listen: [{systemd: \"\"}]\n" + route, `F:1:20: listen[0].systemd: empty: give the name of the sockets systemd passes (FileDescriptorName=, by default the socket unit's name)`},
		{"the same systemd listener twice", "listen: [{systemd: web}, {systemd: web}]\n" + route, `F:1:26: listen[1]: the same listener as listen[0]`},
		{"unix proxy, no unix listener", "trusted_proxies: [unix]\n" + route, `F:1:19: trusted_proxies[0]: unix trusts the peers of a unix listener, and there is none`},
		{"bad trusted proxy", "trusted_proxies: [10.0.0.0/33]\n" + route, `F:1:19: trusted_proxies[0]: "10.0.0.0/33" is neither an address nor a CIDR`},
		{"bad allowed host", "allowed_hosts: [\"example.com:443\"]\n" + route, `F:1:17: allowed_hosts[0]: "example.com:443": give the name without a port (example.com)`},
		{"bad admin address", "admin: {address: \"::1\"}\n" + route, `F:1:18: admin.address: "::1" is not HOST:PORT or a port`},
		{"admin port out of range", "admin: {address: 70000}\n" + route, `F:1:18: admin.address: "70000": "70000" is not a port (0-65535)`},
		{"bad log level", "log: {level: loud}\n" + route, `F:1:14: log.level: "loud" is not one of debug, trace, access, info, error, fatal`},
		{"bad origin", route + "defaults: {origins: [\"https://a.example/x\"]}\n", `F:2:22: defaults.origins[0]: origin "https://a.example/x": want host[:port] or scheme://host[:port]`},
		{"password file missing", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: a, password_file: nope}]}}]\n", `F:1:83: routes[0].auth.basic[0].password_file: D/nope: no such file or directory`},
		{"password file empty", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: a, password_file: empty.password}]}}]\n", `F:1:83: routes[0].auth.basic[0].password_file: D/empty.password: the first line is empty`},
		{"password env unset", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: a, password_env: WSBRIDGE_TEST_UNSET}]}}]\n", `F:1:82: routes[0].auth.basic[0].password_env: the environment variable WSBRIDGE_TEST_UNSET is empty or not set`},
		{"two passwords", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: a, password: b, password_env: C}]}}]\n", `F:1:65: routes[0].auth.basic[0].user: give one of password, password_file and password_env`},
		{"no password", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: a}]}}]\n", `F:1:65: routes[0].auth.basic[0].user: missing: give password, password_file or password_env`},
		{"user with a colon", "routes: [{path: /x, exec: {command: cat}, auth: {basic: [{user: \"a:b\", password: c}]}}]\n", `F:1:65: routes[0].auth.basic[0].user: "a:b" is not a user name (not empty, no colon)`},
		{"missing htpasswd", route + "defaults: {auth: {htpasswd: /nonexistent/htpasswd}}\n", `F:2:29: defaults.auth.htpasswd: /nonexistent/htpasswd: no such file or directory`},
		{"short JWT secret", route + "defaults: {auth: {jwt: {key: short.key}}}\n", `F:2:30: defaults.auth.jwt.key: an HS256 secret must be at least 32 bytes, this one is 9`},
		{"client_cn without client_ca", route + "defaults: {auth: {client_cn: [ann]}}\n", `F:2:30: defaults.auth.client_cn: no listener asks for client certificates: give one tls.client_ca`},
		{"negative fail limit", route + "defaults: {auth: {fail_limit: -1}}\n", `F:2:31: defaults.auth.fail_limit: must not be negative, got -1`},
		{"bad header", route + "defaults: {headers: {ws: {\"X A\": b}}}\n", `F:2:34: defaults.headers.ws.X A: not a header name and value a response can carry`},
		{"bad term option", "routes: [{path: /x, pty: {command: sh, term_options: {fontSize: big}}}]\n", `F:1:65: routes[0].pty.term_options.fontSize: fontSize: want a number, 0 or more, got "big"`},
		{"URL term option never", "routes: [{path: /x, pty: {command: sh, url_term_options: [windowOptions]}}]\n", `F:1:59: routes[0].pty.url_term_options[0]: windowOptions must not come from a link: a page opened from someone else's link would have it`},
		{"bad clipboardWrite", "routes: [{path: /x, pty: {command: sh, term_options: {clipboardWrite: maybe}}}]\n", `F:1:71: routes[0].pty.term_options.clipboardWrite: clipboardWrite: want true or false, got "maybe"`},
		{"clipboardWrite never from a link", "routes: [{path: /x, pty: {command: sh, url_term_options: [fontSize, clipboardWrite]}}]\n", `F:1:69: routes[0].pty.url_term_options[1]: clipboardWrite must not come from a link: a page opened from someone else's link would have it`},
		{"record_max without record", "routes: [{path: /x, pty: {command: sh, record_max: 1MB}}]\n", `F:1:52: routes[0].pty.record_max: needs record (a folder)`},
		{"scrollback without linger", "routes: [{path: /x, pty: {command: sh, scrollback: 1MB}}]\n", `F:1:52: routes[0].pty.scrollback: needs linger: only a lasting terminal keeps its output`},
		{"negative linger", "routes: [{path: /x, pty: {command: sh, linger: -1s}}]\n", `F:1:48: routes[0].pty.linger: -1s is out of range (0 to 168h0m0s)`},
		{"writers without linger", "routes: [{path: /x, pty: {command: sh, writers: one}}]\n", `F:1:49: routes[0].pty.writers: needs linger: only a lasting terminal has several writers`},
		{"bad writers", "routes: [{path: /x, pty: {command: sh, linger: 1m, writers: some}}]\n", `F:1:61: routes[0].pty.writers: "some" is not one of all, one`},
		{"tiny scrollback", "routes: [{path: /x, pty: {command: sh, linger: 1m, scrollback: 100}}]\n", `F:1:64: routes[0].pty.scrollback: 100 bytes is out of range (4096 to 1073741824)`},
		{"bad tcp target", "routes: [{path: /x, tcp: {target: example.com}}]\n", `F:1:35: routes[0].tcp.target: "example.com" is not host:port`},
		{"bad proxy protocol", "routes: [{path: /x, tcp: {target: 127.0.0.1:22, proxy_protocol: v3}}]\n", `F:1:65: routes[0].tcp.proxy_protocol: "v3" is not v1 or v2`},
		{"dial timeout out of range", "routes: [{path: /x, tcp: {target: 127.0.0.1:22, dial_timeout: 2h}}]\n", `F:1:63: routes[0].tcp.dial_timeout: 2h is out of range (more than 0, at most 1h)`},
		{"unix TLS without a name", "routes: [{path: /x, unix: {target: a.sock, tls: {}}}]\n", `F:1:49: routes[0].unix.tls.server_name: missing: a unix socket has no host name to verify`},
		{"missing token file", "routes: [{path: /x, tokens: {file: nope}}]\n", `F:1:36: routes[0].tokens.file: D/nope: no such file or directory`},
		{"tokens without file or redis", "routes: [{path: /x, tokens: {host_token: true}}]\n", `F:1:29: routes[0].tokens.file: missing: give a token file or a folder of them, or redis`},
		{"tokens file and redis", "routes: [{path: /x, tokens: {file: notes.txt, redis: localhost}}]\n", `F:1:54: routes[0].tokens.redis: give file or redis, not both`},
		{"bad redis source", "routes: [{path: /x, tokens: {redis: \"localhost:port\"}}]\n", `F:1:37: routes[0].tokens.redis: "localhost:port": "port" is not a port (1-65535)`},
		{"bad redis URL", "routes: [{path: /x, tokens: {redis: \"redis://h/x\"}}]\n", `F:1:37: routes[0].tokens.redis: invalid database number: "x"`},
		{"redis password without redis", "routes: [{path: /x, tokens: {file: notes.txt, password_env: PW}}]\n", `F:1:61: routes[0].tokens.password_env: a password is for redis, and there is no redis`},
		{"redis password env unset", "routes: [{path: /x, tokens: {redis: localhost, password_env: WSBRIDGE_TEST_UNSET}}]\n", `F:1:62: routes[0].tokens.password_env: the environment variable WSBRIDGE_TEST_UNSET is empty or not set`},
		{"redis password file missing", "routes: [{path: /x, tokens: {redis: localhost, password_file: nope}}]\n", `F:1:63: routes[0].tokens.password_file: D/nope: no such file or directory`},
		{"redis passwords twice", "routes: [{path: /x, tokens: {redis: localhost, password_file: term.password, password_env: PW}}]\n", `F:1:63: routes[0].tokens.password_file: give one of password_file and password_env`},
		{"dev console with pty", "routes: [{path: /x, pty: {command: sh}, dev_console: true}]\n", `F:1:54: routes[0].dev_console: not with static, cgi or pty: each serves the path's page`},
		{"drain timeout out of range", "timeouts: {drain_timeout: 25h}\n" + route, `F:1:27: timeouts.drain_timeout: 25h is out of range (0 to 24h)`},
		{"drain delay without timeout", "timeouts: {drain_delay: 5s}\n" + route, `F:1:25: timeouts.drain_delay: needs timeouts.drain_timeout (without it, SIGTERM shuts down at once)`},
		{"drain delay past timeout", "timeouts: {drain_timeout: 5s, drain_delay: 1m}\n" + route, `F:1:44: timeouts.drain_delay: 1m is longer than timeouts.drain_timeout 5s: the drain would end before it refuses anything`},
		{"missing static folder", "routes: [{path: /x, tcp: {target: 127.0.0.1:22}, static: /nonexistent}]\n", `F:1:58: routes[0].static: /nonexistent: no such file or directory`},
	} {
		_, err := loadText(t, dir, tc.text)
		// F is the file, D/ its folder.
		want := filepath.Join(dir, "wsbridge.yaml") + strings.ReplaceAll(strings.TrimPrefix(tc.want, "F"), "D/", dir+"/")
		var e *Error
		switch {
		case err == nil:
			t.Errorf("%s: no error, want %s", tc.name, want)
		case !errors.As(err, &e):
			t.Errorf("%s: %T %v, want an *Error", tc.name, err, err)
		case err.Error() != want:
			t.Errorf("%s:\n got %s\nwant %s", tc.name, err, want)
		}
	}
}

// TestUnbufferOnlyForExec: unbuffer is exec's key: a pty's output is a
// terminal already, and a dial has no program. Elsewhere it is an unknown
// key, at its place in the file.
func TestUnbufferOnlyForExec(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{"routes: [{path: /x, pty: {command: sh, unbuffer: true}}]\n", ":1:40: routes[0].pty.unbuffer: unknown key; known here: command, "},
		{"routes: [{path: /x, tcp: {target: 127.0.0.1:22, unbuffer: true}}]\n", ":1:49: routes[0].tcp.unbuffer: unknown key; known here: target, "},
		{"defaults: {unbuffer: true}\nroutes: [{path: /x, exec: {command: cat}}]\n", ":1:12: defaults.unbuffer: unknown key; known here: origins, "},
	} {
		_, err := loadText(t, dir, tc.text)
		if want := filepath.Join(dir, "wsbridge.yaml") + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %s...", tc.text, err, want)
		}
	}
	f, err := loadText(t, dir, "routes: [{path: /x, exec: {command: cat, unbuffer: true}}]\n")
	if err != nil || !f.Routes[0].Exec.Unbuffer {
		t.Errorf("exec.unbuffer: %v, want it read", err)
	}
}

// TestNew: New is what an empty file loads as, and a command line fills
// it: one route added to it validates; a pty route may run the scripts
// of a Dir instead of a command, and the folder must be there.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := New()
	if !reflect.DeepEqual(f.Listen, empty.Listen) || !reflect.DeepEqual(f.Defaults, empty.Defaults) || f.Path != "" {
		t.Errorf("New: %+v, want what an empty file loads as: %+v", f, empty)
	}
	for _, tc := range []struct {
		pty  PTY
		want string // empty: valid
	}{
		{PTY{Dir: dir}, ""},
		{PTY{}, "routes[0].pty.command: missing"},
		{PTY{Dir: filepath.Join(dir, "nope")}, "routes[0].pty.dir: " + filepath.Join(dir, "nope") + ": no such file"},
	} {
		f := New()
		f.Routes = []Route{{Path: "/", Settings: f.Defaults, PTY: &tc.pty}}
		err := f.Validate()
		var e *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.pty, err)
		case tc.want != "" && (!errors.As(err, &e) || !strings.HasPrefix(e.Key+": "+e.Msg, tc.want)):
			t.Errorf("%+v: %v, want %q", tc.pty, err, tc.want)
		}
	}
}
