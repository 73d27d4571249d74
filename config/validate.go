package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/wsbridge/wsbridge/admin"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/process"
	"github.com/wsbridge/wsbridge/web"
)

// The largest values, as the command line's (main.go): anything larger is
// a slip, and far larger overflows time.Duration.
const (
	maxPing       = 24 * time.Hour
	maxCloseGrace = time.Hour
	maxIdle       = 365 * 24 * time.Hour
	maxDial       = time.Hour
	maxFailDelay  = time.Minute
	maxHeader     = time.Hour
	maxShutdown   = 4 * time.Hour  // three close_grace ladders and then some
	maxDrain      = 24 * time.Hour // timeouts.drain_timeout and drain_delay
	maxMessage    = 1 << 30        // a message is held whole in memory
)

// Validate checks everything Load cannot: values, combinations, and that
// the files and programs named are there. It returns the first problem, an
// *Error.
func (f *File) Validate() error {
	if err := f.validateServer(); err != nil {
		return err
	}
	if err := f.validateSettings(&f.Defaults, "defaults"); err != nil {
		return err
	}
	if len(f.Routes) == 0 {
		return f.errorf("routes", "no routes: give at least one")
	}
	paths, names := map[string]int{}, map[string]int{}
	for i := range f.Routes {
		r, key := &f.Routes[i], fmt.Sprintf("routes[%d]", i)
		if err := f.validateRoute(r, key); err != nil {
			return err
		}
		if j, dup := paths[r.Path]; dup {
			return f.errorf(key+".path", "%s is the path of routes[%d] too: give each path one route", r.Path, j)
		}
		if j, dup := names[r.Name]; dup {
			return f.errorf(key+".name", "%q is the name of routes[%d] too", r.Name, j)
		}
		paths[r.Path], names[r.Name] = i, i
	}
	return nil
}

// portKey is the key of a listener's port, given the key seen names: a
// listener's, or its redirect_port's.
func portKey(key string) string {
	if strings.HasSuffix(key, ".redirect_port") {
		return key
	}
	return key + ".port"
}

func (f *File) validateServer() error {
	if len(f.Listen) == 0 {
		return f.errorf("listen", "no listeners: give at least one (or leave listen: out for loopback port 8080)")
	}
	// Each socket a listener binds, by the key that asks for it: two keys
	// asking for one socket would fail at start with "address in use".
	seen := map[string]string{}
	var unixListener, tcpListener bool
	for i := range f.Listen {
		l, key := &f.Listen[i], fmt.Sprintf("listen[%d]", i)
		if err := f.validateListener(l, key); err != nil {
			return err
		}
		id := "unix:" + l.Unix
		switch {
		case l.Systemd != "":
			id = "systemd:" + l.Systemd
		case l.Unix == "":
			id = net.JoinHostPort(l.Address, fmt.Sprint(l.Port))
		}
		if other, dup := seen[id]; dup && (l.Unix != "" || l.Systemd != "" || l.Port != 0) {
			if strings.HasSuffix(other, ".redirect_port") {
				return f.errorf(key+".port", "%d is %s too", l.Port, other)
			}
			return f.errorf(key, "the same listener as %s", other)
		}
		seen[id] = key
		if l.Unix == "" && l.Systemd == "" && l.RedirectPort != 0 {
			rid := net.JoinHostPort(l.Address, fmt.Sprint(l.RedirectPort))
			if other, dup := seen[rid]; dup {
				return f.errorf(key+".redirect_port", "%d is %s too", l.RedirectPort, portKey(other))
			}
			seen[rid] = key + ".redirect_port"
		}
		// What systemd passes may be either kind.
		unixListener = unixListener || l.Unix != "" || l.Systemd != ""
		tcpListener = tcpListener || l.Unix == ""
	}
	for i, v := range f.TrustedProxies {
		key := fmt.Sprintf("trusted_proxies[%d]", i)
		p, err := bridge.ParseTrustedProxy(v)
		switch {
		case err != nil:
			return f.errorf(key, "%v", err)
		case p == bridge.UnixPeers && !unixListener:
			return f.errorf(key, "unix trusts the peers of a unix listener, and there is none")
		case p != bridge.UnixPeers && !tcpListener:
			return f.errorf(key, "peers of unix listeners have no address; unix trusts them")
		}
	}
	for i, v := range f.AllowedHosts {
		if _, err := bridge.ParseAllowedHosts([]string{v}); err != nil {
			return f.errorf(fmt.Sprintf("allowed_hosts[%d]", i), "%v", err)
		}
	}
	if err := oneOf(f.Log.Level, "", "debug", "trace", "access", "info", "error", "fatal"); err != nil {
		return f.errorf("log.level", "%v", err)
	}
	if err := oneOf(f.Log.Format, "", "text", "json"); err != nil {
		return f.errorf("log.format", "%v", err)
	}
	if f.Limits.MaxSessions < 0 {
		return f.errorf("limits.max_sessions", "must not be negative, got %d", f.Limits.MaxSessions)
	}
	if err := inRange(f.Timeouts.Header, maxHeader); err != nil {
		return f.errorf("timeouts.header", "%v", err)
	}
	if err := inRange(f.Timeouts.Shutdown, maxShutdown); err != nil {
		return f.errorf("timeouts.shutdown", "%v", err)
	}
	if err := inRange(f.Timeouts.DrainTimeout, maxDrain); err != nil {
		return f.errorf("timeouts.drain_timeout", "%v", err)
	}
	if err := inRange(f.Timeouts.DrainDelay, maxDrain); err != nil {
		return f.errorf("timeouts.drain_delay", "%v", err)
	}
	switch t := f.Timeouts; {
	case t.DrainDelay > 0 && t.DrainTimeout == 0:
		return f.errorf("timeouts.drain_delay", "needs timeouts.drain_timeout (without it, SIGTERM shuts down at once)")
	case t.DrainDelay > t.DrainTimeout:
		return f.errorf("timeouts.drain_delay", "%s is longer than timeouts.drain_timeout %s: the drain would end before it refuses anything", shortDuration(t.DrainDelay), shortDuration(t.DrainTimeout))
	}
	if a := f.Admin.Address; a != "" {
		if _, _, err := admin.ParseAddress(a); err != nil {
			return f.errorf("admin.address", "%v", err)
		}
	}
	return nil
}

func (f *File) validateListener(l *Listener, key string) error {
	if f.has(key+".systemd") && l.Systemd == "" {
		return f.errorf(key+".systemd", "empty: give the name of the sockets systemd passes (FileDescriptorName=, by default the socket unit's name)")
	}
	if l.Systemd != "" {
		for _, k := range []string{"address", "port", "unix", "redirect_port"} {
			if f.has(key + "." + k) {
				return f.errorf(key+"."+k, "a systemd listener has no %s: its socket unit says where it listens", k)
			}
		}
		// systemd.socket(5)'s FileDescriptorName=.
		if len(l.Systemd) > 255 || strings.ContainsFunc(l.Systemd, func(r rune) bool { return r == ':' || r < ' ' || r > '~' }) {
			return f.errorf(key+".systemd", "%q is not a FileDescriptorName= (printable ASCII without ':', at most 255 characters)", l.Systemd)
		}
	}
	if l.Unix != "" {
		for _, k := range []string{"address", "port", "redirect_port"} {
			if f.has(key + "." + k) {
				return f.errorf(key+"."+k, "a unix listener has no %s", k)
			}
		}
	}
	if _, _, err := net.SplitHostPort(l.Address); err == nil {
		return f.errorf(key+".address", "%q: give the port in port:, not in the address", l.Address)
	}
	if strings.ContainsAny(l.Address, "/ []") {
		return f.errorf(key+".address", "%q is not a host name or IP address", l.Address)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"port", l.Port}, {"redirect_port", l.RedirectPort}} {
		if p.v < 0 || p.v > 65535 {
			return f.errorf(key+"."+p.name, "%d is not a port (0-65535)", p.v)
		}
	}
	if l.RedirectPort != 0 && l.RedirectPort == l.Port {
		return f.errorf(key+".redirect_port", "%d is the listener's own port", l.RedirectPort)
	}
	t := l.TLS
	if t == nil {
		return nil
	}
	key += ".tls"
	if len(t.Certs) == 0 && t.ACME == nil {
		return f.errorf(key, "give certs (cert and key files) or acme")
	}
	for j, c := range t.Certs {
		ck := fmt.Sprintf("%s.certs[%d]", key, j)
		switch {
		case c.Cert == "":
			return f.errorf(ck+".cert", "missing: give the certificate chain's file")
		case c.Key == "":
			return f.errorf(ck+".key", "missing: give the private key's file")
		}
		if err := readable(c.Cert); err != nil {
			return f.errorf(ck+".cert", "%v", err)
		}
		if err := readable(c.Key); err != nil {
			return f.errorf(ck+".key", "%v", err)
		}
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return f.errorf(ck, "%v", err)
		}
		if now := time.Now(); now.After(pair.Leaf.NotAfter) {
			return f.errorf(ck+".cert", "%s: the certificate expired on %s", c.Cert, pair.Leaf.NotAfter.Format(time.DateOnly))
		} else if now.Before(pair.Leaf.NotBefore) {
			return f.errorf(ck+".cert", "%s: the certificate is not valid before %s", c.Cert, pair.Leaf.NotBefore.Format(time.DateOnly))
		}
	}
	if a := t.ACME; a != nil {
		if len(a.Domains) == 0 {
			return f.errorf(key+".acme.domains", "missing: give the names to get certificates for")
		}
		for j, d := range a.Domains {
			if d == "" || strings.ContainsAny(d, "*:/ []") {
				return f.errorf(fmt.Sprintf("%s.acme.domains[%d]", key, j), "%q is not a host name", d)
			}
		}
		if d := a.Directory; d != "" && !strings.HasPrefix(d, "https://") && !strings.HasPrefix(d, "http://") {
			return f.errorf(key+".acme.directory", "%q is not an http(s) URL", d)
		}
	}
	if t.ClientCA != "" {
		if err := pemCAs(t.ClientCA); err != nil {
			return f.errorf(key+".client_ca", "%v", err)
		}
	}
	return nil
}

// validateSettings checks what a route, or defaults:, sets.
func (f *File) validateSettings(s *Settings, key string) error {
	for i, v := range s.Origins {
		if _, err := bridge.ParseOrigins([]string{v}); err != nil {
			return f.errorf(fmt.Sprintf("%s.origins[%d]", key, i), "%v", err)
		}
	}
	if err := f.validateAuth(&s.Auth, key+".auth"); err != nil {
		return err
	}
	for i, p := range s.Subprotocols {
		if p == "" || strings.ContainsAny(p, " ,\t") {
			return f.errorf(fmt.Sprintf("%s.subprotocols[%d]", key, i), "%q is not a subprotocol name", p)
		}
	}
	if s.MaxSessions < 0 {
		return f.errorf(key+".max_sessions", "must not be negative, got %d", s.MaxSessions)
	}
	if s.MaxMessage < 1 || s.MaxMessage > maxMessage {
		return f.errorf(key+".max_message", "%d bytes is out of range (1 byte to 1GiB)", s.MaxMessage)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		max  time.Duration
	}{{"ping_interval", s.PingInterval, maxPing}, {"idle_timeout", s.IdleTimeout, maxIdle}, {"close_grace", s.CloseGrace, maxCloseGrace}} {
		if err := inRange(d.v, d.max); err != nil {
			return f.errorf(key+"."+d.name, "%v", err)
		}
	}
	switch s.Compression {
	case "", "auto", "on", "off":
	default:
		return f.errorf(key+".compression", "%q is not auto, on or off", s.Compression)
	}
	for _, h := range []struct {
		name   string
		values map[string]string
	}{{"all", s.Headers.All}, {"ws", s.Headers.WS}, {"http", s.Headers.HTTP}} {
		for _, k := range slices.Sorted(maps.Keys(h.values)) {
			if err := bridge.ParseHeader(http.Header{}, k+": "+h.values[k]); err != nil {
				return f.errorf(key+".headers."+h.name+"."+k, "not a header name and value a response can carry")
			}
		}
	}
	return nil
}

func (f *File) validateAuth(a *Auth, key string) error {
	for i := range a.Basic {
		u, uk := &a.Basic[i], fmt.Sprintf("%s.basic[%d]", key, i)
		if u.User == "" || strings.Contains(u.User, ":") {
			return f.errorf(uk+".user", "%q is not a user name (not empty, no colon)", u.User)
		}
		pw, err := u.Secret()
		if err != nil {
			return f.errorf(uk+"."+u.secretKey(), "%v", err)
		}
		if _, err := auth.ParseBasic(u.User + ":" + pw); err != nil {
			return f.errorf(uk, "%v", err)
		}
	}
	for _, file := range []struct{ name, path string }{{"htpasswd", a.Htpasswd}, {"bearer_token_file", a.BearerTokenFile}} {
		if file.path != "" {
			if err := readable(file.path); err != nil {
				return f.errorf(key+"."+file.name, "%v", err)
			}
		}
	}
	if j := a.JWT; j != nil {
		if j.Key == "" {
			return f.errorf(key+".jwt.key", "missing: give the key's file")
		}
		if err := readable(j.Key); err != nil {
			return f.errorf(key+".jwt.key", "%v", err)
		}
		if _, err := auth.NewJWT(j.Key, j.Audience, auth.TokenSource{}); err != nil {
			return f.errorf(key+".jwt.key", "%v", errors.Unwrap(err)) // what is wrong, without the file
		}
	}
	if err := inRange(a.FailDelay, maxFailDelay); err != nil {
		return f.errorf(key+".fail_delay", "%v", err)
	}
	if a.FailLimit < 0 {
		return f.errorf(key+".fail_limit", "must not be negative, got %d", a.FailLimit)
	}
	if len(a.ClientCN) > 0 && !f.clientCAs() {
		return f.errorf(key+".client_cn", "no listener asks for client certificates: give one tls.client_ca")
	}
	for i, cn := range a.ClientCN {
		if cn == "" {
			return f.errorf(fmt.Sprintf("%s.client_cn[%d]", key, i), "an empty name")
		}
	}
	return nil
}

func (f *File) clientCAs() bool {
	for _, l := range f.Listen {
		if l.TLS != nil && l.TLS.ClientCA != "" {
			return true
		}
	}
	return false
}

func (f *File) validateRoute(r *Route, key string) error {
	switch p := r.Path; {
	case p == "":
		return f.errorf(key+".path", "missing: give the route's path, such as /ssh or /term/")
	case !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") || cleanPath(p) != p:
		return f.errorf(key+".path", "%q is not a clean path such as /ssh or /term/", p)
	}
	switch kind := r.Kind(); {
	case kind == "":
		return f.errorf(key, "no backend: give one of exec, pty, tcp, unix, tokens")
	case strings.Contains(kind, " and "):
		second := strings.Fields(kind)[2]
		return f.errorf(key+"."+second, "a route has one backend; this one has %s", kind)
	}
	var err error
	switch {
	case r.Exec != nil:
		err = f.validateExec(r, key+".exec")
	case r.PTY != nil:
		err = f.validatePTY(r.PTY, key+".pty")
	case r.TCP != nil:
		if _, perr := bridge.ParseHostPort(r.TCP.Target); perr != nil {
			return f.errorf(key+".tcp.target", "%v", perr)
		}
		err = f.validateDial(&r.TCP.DialOptions, key+".tcp", false)
	case r.Unix != nil:
		if r.Unix.Target == "" {
			return f.errorf(key+".unix.target", "missing: give the unix socket's path")
		}
		err = f.validateDial(&r.Unix.DialOptions, key+".unix", true)
	case r.Tokens != nil:
		if err := f.validateTokens(r.Tokens, key+".tokens"); err != nil {
			return err
		}
		err = f.validateDial(&r.Tokens.DialOptions, key+".tokens", false)
	}
	if err != nil {
		return err
	}
	for _, dir := range []struct{ name, path string }{{"static", r.Static}, {"cgi", r.CGI}} {
		if dir.path != "" {
			if err := folder(dir.path); err != nil {
				return f.errorf(key+"."+dir.name, "%v", err)
			}
		}
	}
	if r.DevConsole && (r.Static != "" || r.CGI != "" || r.PTY != nil) {
		return f.errorf(key+".dev_console", "not with static, cgi or pty: each serves the path's page")
	}
	return f.validateSettings(&r.Settings, key)
}

// cleanPath is p without dot segments and double slashes, its trailing
// slash kept.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func (f *File) validateProgram(p *Program, key string) error {
	if len(p.Args) > 0 && p.Command == "" {
		return f.errorf(key+".args", "args need a command")
	}
	if p.Command == "" {
		return nil
	}
	if _, err := exec.LookPath(p.Command); err != nil {
		if !strings.Contains(p.Command, "/") {
			return f.errorf(key+".command", "%q is not a program in PATH", p.Command)
		}
		return f.errorf(key+".command", "%s is not an executable file", p.Command)
	}
	return nil
}

func (f *File) validateExec(r *Route, key string) error {
	e := r.Exec
	switch {
	case e.Command == "" && e.Dir == "":
		return f.errorf(key, "give a command, or a dir of scripts")
	case e.Command != "" && e.Dir != "":
		return f.errorf(key+".dir", "give a command or a dir, not both")
	}
	if err := f.validateProgram(&e.Program, key); err != nil {
		return err
	}
	if e.Unbuffer && !process.CanUnbuffer {
		return f.errorf(key+".unbuffer", "not on this platform: it has no pseudo-terminal for a program's output alone")
	}
	if e.Dir != "" {
		if err := folder(e.Dir); err != nil {
			return f.errorf(key+".dir", "%v", err)
		}
	}
	framing, err := bridge.ParseFraming(e.Framing)
	if err != nil {
		return f.errorf(key+".framing", "%v", err)
	}
	mode, err := bridge.ParseStderrMode(e.Stderr)
	if err != nil {
		return f.errorf(key+".stderr", "%v", err)
	}
	if e.Shared != nil {
		if e.Dir != "" {
			return f.errorf(key+".shared", "a shared route runs one command, not a dir of scripts")
		}
		if name, err := e.Shared.Check(); err != nil {
			return f.errorf(key+".shared."+name, "%v", err)
		}
		if len(e.Shared.Writers) > 0 && !r.Auth.Names() {
			return f.errorf(key+".shared.writers", "writers are users: the route needs auth (basic, htpasswd, bearer_token_file, jwt or client_cn) to know who a client is")
		}
	}
	if mode == bridge.StderrJSON {
		switch {
		case framing != bridge.Line:
			return f.errorf(key+".stderr", "json sends a JSON text message per line: it needs framing line, not %s", framing)
		case r.MaxMessage < bridge.MinJSONMessage:
			return f.errorf(key+".stderr", "json needs max_message %d or more: a message holds a line and the JSON around it", bridge.MinJSONMessage)
		}
	}
	return nil
}

// Check checks a filled Shared; on a problem it names the key.
func (s *Shared) Check() (key string, err error) {
	if _, err := bridge.ParseStartPolicy(s.Start); err != nil {
		return "start", err
	}
	if _, err := bridge.ParseRestartPolicy(s.Restart); err != nil {
		return "restart", err
	}
	if _, err := bridge.ParseSlowPolicy(s.Slow); err != nil {
		return "slow", err
	}
	if err := oneOf(s.Input, "", "all", "none"); err != nil {
		return "input", err
	}
	if len(s.Writers) > 0 && s.Input == "none" {
		return "writers", errors.New("with input none nobody writes: give one or the other")
	}
	for _, w := range s.Writers {
		if w == "" {
			return "writers", errors.New("an empty name")
		}
	}
	switch {
	case s.Linger < 0:
		return "linger", fmt.Errorf("%v is negative", s.Linger)
	case s.Linger > 0 && s.Start == "always":
		return "linger", errors.New("start always keeps the program running: linger is for start first")
	case s.Replay < 0 || s.Replay > maxReplay:
		return "replay", fmt.Errorf("%d is out of range (0 to %d messages)", s.Replay, maxReplay)
	case s.Queue < minSharedQueue || s.Queue > maxSharedQueue:
		return "queue", fmt.Errorf("%d bytes is out of range (%d to %d)", s.Queue, minSharedQueue, maxSharedQueue)
	}
	return "", nil
}

// A lasting terminal's bounds.
const (
	MaxLinger     = 7 * 24 * time.Hour // the longest linger
	minScrollback = 4 << 10
	maxScrollback = 1 << 30
)

const (
	maxReplay      = 1 << 20
	minSharedQueue = 1 << 10
	maxSharedQueue = 1 << 30
)

func (f *File) validatePTY(p *PTY, key string) error {
	if p.Command == "" && p.Dir == "" {
		return f.errorf(key+".command", "missing: give the program to run on the terminal")
	}
	if err := f.validateProgram(&p.Program, key); err != nil {
		return err
	}
	if p.Dir != "" {
		if err := folder(p.Dir); err != nil {
			return f.errorf(key+".dir", "%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.TermOptions)) {
		if _, _, err := web.ParseTermOption(name + "=" + p.TermOptions[name]); err != nil {
			return f.errorf(key+".term_options."+name, "%v", err)
		}
	}
	for i, name := range p.URLTermOptions {
		if _, err := web.ParseURLOptions(name); err != nil || name == "" {
			if err == nil {
				err = errors.New("an empty name")
			}
			return f.errorf(fmt.Sprintf("%s.url_term_options[%d]", key, i), "%v", err)
		}
	}
	if p.Index != "" {
		if err := readable(p.Index); err != nil {
			return f.errorf(key+".index", "%v", err)
		}
	}
	switch {
	case p.Linger < 0 || p.Linger > MaxLinger:
		return f.errorf(key+".linger", "%v is out of range (0 to %v)", p.Linger, MaxLinger)
	case p.Linger == 0 && (f.has(key+".scrollback") || p.Scrollback != 0):
		return f.errorf(key+".scrollback", "needs linger: only a lasting terminal keeps its output")
	case p.Linger > 0 && (p.Scrollback < minScrollback || p.Scrollback > maxScrollback):
		return f.errorf(key+".scrollback", "%d bytes is out of range (%d to %d)", p.Scrollback, minScrollback, maxScrollback)
	case p.Linger == 0 && p.Writers != "":
		return f.errorf(key+".writers", "needs linger: only a lasting terminal has several writers")
	}
	if err := oneOf(p.Writers, "", "all", "one"); err != nil {
		return f.errorf(key+".writers", "%v", err)
	}
	if p.Record == "" {
		if f.has(key + ".record_max") {
			return f.errorf(key+".record_max", "needs record (a folder)")
		}
		return nil
	}
	probe, err := os.CreateTemp(p.Record, ".wsbridge-probe-*")
	if err != nil {
		return f.errorf(key+".record", "%s is not a folder wsbridge can write: %v", p.Record, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func (f *File) validateDial(o *DialOptions, key string, unix bool) error {
	if o.DialTimeout <= 0 || o.DialTimeout > maxDial {
		return f.errorf(key+".dial_timeout", "%s is out of range (more than 0, at most 1h)", shortDuration(o.DialTimeout))
	}
	if o.ProxyProtocol != "" {
		if _, err := bridge.ParseProxyProtocol(o.ProxyProtocol); err != nil {
			return f.errorf(key+".proxy_protocol", "%v", err)
		}
	}
	if t := o.TLS; t != nil {
		if t.CA != "" {
			if err := pemCAs(t.CA); err != nil {
				return f.errorf(key+".tls.ca", "%v", err)
			}
		}
		if unix && t.ServerName == "" {
			return f.errorf(key+".tls.server_name", "missing: a unix socket has no host name to verify")
		}
	}
	return nil
}

// validateTokens checks a token file, or a Redis source and its password.
func (f *File) validateTokens(t *Tokens, key string) error {
	pwKey := key + ".password_env"
	if t.PasswordFile != "" {
		pwKey = key + ".password_file"
	}
	switch {
	case t.File != "" && t.Redis != "":
		return f.errorf(key+".redis", "give file or redis, not both")
	case t.Redis == "" && (t.PasswordFile != "" || t.PasswordEnv != ""):
		return f.errorf(pwKey, "a password is for redis, and there is no redis")
	case t.Redis != "":
		pw, err := t.RedisPassword()
		if err != nil {
			return f.errorf(pwKey, "%v", err)
		}
		tr, err := bridge.NewTokenRedis(t.Redis, pw, slog.New(slog.DiscardHandler))
		if err != nil {
			return f.errorf(key+".redis", "%v", err)
		}
		return tr.Close()
	case t.File == "":
		return f.errorf(key+".file", "missing: give a token file or a folder of them, or redis")
	}
	tf := &bridge.TokenFile{Path: t.File, Log: slog.New(slog.DiscardHandler)}
	if err := tf.Load(); err != nil {
		return f.errorf(key+".file", "%s: %v", t.File, err) // bridge leaves the path to its caller
	}
	return nil
}

// RedisPassword is the password for Redis that password_file or
// password_env gives, "" for none (the source's, if any).
func (t *Tokens) RedisPassword() (string, error) {
	if t.PasswordFile != "" && t.PasswordEnv != "" {
		return "", errors.New("give one of password_file and password_env")
	}
	return readSecret(t.PasswordFile, t.PasswordEnv)
}

// readSecret reads a file's first line or an environment variable; ""
// when both are empty.
func readSecret(file, env string) (string, error) {
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", pathError(err)
		}
		pw, _, _ := strings.Cut(string(data), "\n")
		if pw = strings.TrimSuffix(pw, "\r"); pw == "" {
			return "", fmt.Errorf("%s: the first line is empty", file)
		}
		return pw, nil
	case env != "":
		pw := os.Getenv(env)
		if pw == "" {
			return "", fmt.Errorf("the environment variable %s is empty or not set", env)
		}
		return pw, nil
	}
	return "", nil
}

// Secret is the user's password: given in the file, read from its file
// (the first line), or from its environment variable.
func (u *BasicUser) Secret() (string, error) {
	given := 0
	for _, v := range []string{u.Password, u.PasswordFile, u.PasswordEnv} {
		if v != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return "", errors.New("missing: give password, password_file or password_env")
	case given > 1:
		return "", errors.New("give one of password, password_file and password_env")
	case u.PasswordFile != "" || u.PasswordEnv != "":
		return readSecret(u.PasswordFile, u.PasswordEnv)
	}
	return u.Password, nil
}

// secretKey is the key Secret's errors are about.
func (u *BasicUser) secretKey() string {
	switch {
	case u.PasswordFile != "" && u.Password == "" && u.PasswordEnv == "":
		return "password_file"
	case u.PasswordEnv != "" && u.Password == "" && u.PasswordFile == "":
		return "password_env"
	case u.Password != "" && u.PasswordFile == "" && u.PasswordEnv == "":
		return "password"
	}
	return "user"
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed[1:], ", "))
}

func inRange(d, max time.Duration) error {
	if d < 0 || d > max {
		return fmt.Errorf("%s is out of range (0 to %s)", shortDuration(d), shortDuration(max))
	}
	return nil
}

// shortDuration writes 1h for 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	return strings.Replace(s, "h0m", "h", 1)
}

// pathError writes "PATH: what went wrong", without the operation's name.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

func readable(file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return pathError(err)
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil || fi.IsDir() {
		return fmt.Errorf("%s is a folder, not a file", file)
	}
	return nil
}

func folder(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return pathError(err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}

// pemCAs checks that file holds PEM certificates.
func pemCAs(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return pathError(err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return nil
}
