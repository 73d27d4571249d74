package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	wstls "github.com/wsbridge/wsbridge/tls"
	"github.com/wsbridge/wsbridge/web"
)

// configFlags are the server flags that go with --config: the log's, which
// override the file's, and --license, which serves nothing.
var configFlags = []string{"config", "loglevel", "logformat", "license"}

// serveConfig serves what the --config file says.
func serveConfig(c *cli.Context, sd *fromSystemd) error {
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if slices.Contains(configFlags, name) || !c.IsSet(name) {
			continue
		}
		if v := env(name)[0]; os.Getenv(v) != "" { // a variable set long ago is easy to forget
			return usageError("--%s goes into the config file with --config (%s is set)", name, v)
		}
		return usageError("--%s goes into the config file with --config", name)
	}
	if c.NArg() > 0 {
		return usageError("COMMAND %q goes into the config file with --config (a route's exec or pty)", c.Args().First())
	}
	f, err := config.Load(c.String("config"))
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		return usageError("%v", err)
	}
	logOf := func(f *config.File) [2]string {
		level, format := cmp.Or(f.Log.Level, "access"), cmp.Or(f.Log.Format, "text")
		if c.IsSet("loglevel") {
			level = c.String("loglevel")
		}
		if c.IsSet("logformat") {
			format = c.String("logformat")
		}
		return [2]string{level, format}
	}
	lf := logOf(f)
	log, err := newLogger(lf[0], lf[1])
	if err != nil {
		return err
	}
	// Hangups from now on are held until the server listens, then reload.
	onHangup, stopHangups := hangups()
	defer stopHangups()
	srv, err := buildConfigServer(f, log)
	if err != nil {
		return usageError("%v", err)
	}
	if err := useConfigSockets(f, srv, sd.sockets); err != nil {
		return err
	}
	adm, m, err := startServer(srv, f.Admin.Address, log, sd, errorNames{
		admin:  func(err error) string { return f.Errorf("admin.address", "%v", err).Error() },
		listen: func(err error) string { return configListenError(f, err).Error() },
	})
	if err != nil {
		return err
	}
	for _, r := range srv.Routes {
		log.Info("serving", "route", r.Name, "path", r.Path, "backend", fmt.Sprint(r.Backend), "framing", r.Framing.String())
	}
	rl := &reloader{path: c.String("config"), started: f, srv: srv, log: log, logOf: logOf, metrics: m, notifier: sd.notifier}
	onHangup(rl.reload)
	return runServer(srv, log, adm)
}

// configListenError names the listener's key in a listen error.
func configListenError(f *config.File, err error) error {
	var le *bridge.ListenError
	if !errors.As(err, &le) {
		return err
	}
	key := fmt.Sprintf("listen[%d]", le.Listener)
	if le.Redirect {
		key += ".redirect_port"
	}
	return f.Errorf(key, "%v", err)
}

// buildConfigServer turns a validated file, or a command line's (see
// fileFromFlags), into the server. What Validate could not foresee (a file
// changed since, a certificate that does not load) is a *config.Error at
// its key, for the caller to make a usage error. A build that fails closes
// what it made (see endBuilt).
func buildConfigServer(f *config.File, log *slog.Logger) (*bridge.Server, error) {
	srv := &bridge.Server{
		MaxSessions:   f.Limits.MaxSessions,
		Log:           log,
		HeaderTimeout: f.Timeouts.Header,
		ShutdownGrace: f.Timeouts.Shutdown,
		DrainTimeout:  f.Timeouts.DrainTimeout,
		DrainDelay:    f.Timeouts.DrainDelay,
	}
	for _, l := range f.Listen {
		bl := bridge.Listener{Port: l.Port, Unix: l.Unix, RedirPort: l.RedirectPort}
		if l.Address != "" {
			bl.Addresses = []string{l.Address}
		}
		srv.Listeners = append(srv.Listeners, bl)
	}
	for _, v := range f.TrustedProxies {
		p, err := bridge.ParseTrustedProxy(v)
		if err != nil {
			return nil, f.Errorf("trusted_proxies", "%v", err)
		}
		srv.TrustedProxies = append(srv.TrustedProxies, p)
	}
	var err error
	if srv.Hosts, err = bridge.ParseAllowedHosts(f.AllowedHosts); err != nil {
		return nil, f.Errorf("allowed_hosts", "%v", err)
	}
	done := false
	defer func() {
		if !done {
			endBuilt(srv)
		}
	}()
	for i := range f.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		r, err := buildConfigRoute(f, &f.Routes[i], key, log)
		if err != nil {
			return nil, err
		}
		if d, ok := r.Backend.(*bridge.Dial); ok {
			allowHostTokens(&srv.Hosts, d)
		}
		if f.Timeouts.Shutdown == 0 {
			srv.ShutdownGrace = max(srv.ShutdownGrace, shutdownGrace(f.Routes[i].CloseGrace))
		}
		srv.Routes = append(srv.Routes, r)
	}
	// Listeners that share one TLS (a command line's --address list) share
	// its certificates and ACME client.
	built := map[*config.ServerTLS]bool{}
	for i, l := range f.Listen {
		if l.TLS == nil || built[l.TLS] {
			continue
		}
		tlsServer, err := buildConfigTLS(f, l.TLS, fmt.Sprintf("listen[%d].tls", i), log)
		if err != nil {
			return nil, err
		}
		built[l.TLS] = true
		useTLS(srv, &srv.Listeners[i], tlsServer)
		for j := i + 1; j < len(f.Listen); j++ {
			if f.Listen[j].TLS == l.TLS {
				srv.Listeners[j].TLS, srv.Listeners[j].RedirHandler = srv.Listeners[i].TLS, srv.Listeners[i].RedirHandler
			}
		}
	}
	done = true
	return srv, nil
}

// endBuilt closes what a built server's routes hold that nothing will
// serve (a build that failed half way, a reload refused): a Dial's token
// source, which for Redis is a client with its pool. A server that is served
// ends them itself (bridge's lasting backends).
func endBuilt(srv *bridge.Server) {
	for _, r := range srv.Routes {
		if d, ok := r.Backend.(*bridge.Dial); ok {
			d.End()
		}
	}
}

func buildConfigTLS(f *config.File, t *config.ServerTLS, key string, log *slog.Logger) (*wstls.Server, error) {
	opts := wstls.Options{ClientCA: t.ClientCA, Log: log}
	for _, p := range t.Certs {
		opts.Pairs = append(opts.Pairs, wstls.Pair{Cert: p.Cert, Key: p.Key})
	}
	if a := t.ACME; a != nil {
		cache, err := acmeCache(a.Cache)
		if err != nil {
			return nil, f.Errorf(key+".acme.cache", "missing, and there is no default: %v", err)
		}
		dir := cmp.Or(a.Directory, letsEncrypt)
		opts.ACME = &wstls.ACME{Domains: a.Domains, CacheDir: cache, Email: a.Email, Directory: dir}
	}
	s, err := wstls.NewServer(opts)
	var fe *wstls.FileError
	switch {
	case errors.As(err, &fe) && fe.Role == wstls.RoleCert: // as Validate's: the key names the pair
		return nil, f.Errorf(fmt.Sprintf("%s.certs[%d]", key, fe.Index), "%v", fe.Err)
	case errors.As(err, &fe) && fe.Role == wstls.RoleClientCA:
		return nil, f.Errorf(key+".client_ca", "%v", fe)
	case errors.As(err, &fe) && fe.Role == wstls.RoleACMECache:
		return nil, f.Errorf(key+".acme.cache", "%v", fe)
	case err != nil:
		return nil, f.Errorf(key, "%v", err)
	}
	return s, nil
}

// buildConfigRoute builds one route, its backend and its auth.
func buildConfigRoute(f *config.File, cr *config.Route, key string, log *slog.Logger) (*bridge.Route, error) {
	fail := func(k, format string, args ...any) error {
		return f.Errorf(key+k, format, args...)
	}
	if cr.Name != "" { // a command line's one route has none
		log = log.With("route", cr.Name)
	}
	r := &bridge.Route{
		Name:         cr.Name,
		Path:         cr.Path,
		MaxMessage:   int(cr.MaxMessage),
		PingInterval: cr.PingInterval,
		IdleTimeout:  cr.IdleTimeout,
		MaxSessions:  cr.MaxSessions,
		StaticDir:    cr.Static,
		CGIDir:       cr.CGI,
		CGIEnv:       []string{"PATH", "LD_LIBRARY_PATH"},
		CGISoftware:  cgiSoftware(),
		CGIGrace:     cr.CloseGrace,
		DevConsole:   cr.DevConsole,
		Subprotocols: cr.Subprotocols,
		Compression:  cr.Compresses(),
	}
	var err error
	if r.Origins, err = bridge.ParseOrigins(cr.Origins); err != nil {
		return nil, fail(".origins", "%v", err)
	}
	for _, h := range []struct {
		name   string
		values map[string]string
		into   *http.Header
	}{{"all", cr.Headers.All, &r.Header}, {"ws", cr.Headers.WS, &r.HeaderWS}, {"http", cr.Headers.HTTP, &r.HeaderHTTP}} {
		*h.into = http.Header{}
		for name, v := range h.values {
			if err := bridge.ParseHeader(*h.into, name+": "+v); err != nil {
				return nil, fail(".headers."+h.name+"."+name, "%v", err)
			}
		}
	}

	switch {
	case cr.Exec != nil:
		e := cr.Exec
		prog, err := configProgram(&e.Program, log, cr.CloseGrace)
		if err != nil {
			return nil, fail(".exec.command", "%v", err)
		}
		exe := &bridge.Exec{Program: prog}
		exe.ScriptDir, exe.Unbuffer = e.Dir, e.Unbuffer
		exe.MaxMessage = r.MaxMessage
		if r.Framing, err = bridge.ParseFraming(e.Framing); err != nil {
			return nil, fail(".exec.framing", "%v", err)
		}
		if exe.Stderr, err = bridge.ParseStderrMode(e.Stderr); err != nil {
			return nil, fail(".exec.stderr", "%v", err)
		}
		r.CGIEnv, r.Backend = e.PassEnv, exe
		if e.Shared != nil {
			r.Backend = sharedBackend(exe, e.Shared, r.Framing, r.MaxMessage, log)
		}
	case cr.PTY != nil:
		p := cr.PTY
		prog, err := configProgram(&p.Program, log, cr.CloseGrace)
		if err != nil {
			return nil, fail(".pty.command", "%v", err)
		}
		exe := newPty(prog)
		exe.ScriptDir = p.Dir
		if exe.Record = p.Record; exe.Record != "" {
			exe.RecordMax = int64(p.RecordMax)
		}
		exe.Linger, exe.Scrollback, exe.MaxTerminals = p.Linger, int(p.Scrollback), cr.MaxSessions
		exe.OneWriter = p.Writers == "one"
		if r.Terminal, err = configTerminal(p); err != nil {
			return nil, fail(".pty", "%v", err)
		}
		r.Framing, r.CGIEnv, r.Backend = bridge.Terminal, p.PassEnv, exe
	default:
		d, err := configDial(cr, log)
		var fe *wstls.FileError
		if errors.As(err, &fe) { // the only file: the backend's CAs
			return nil, fail("."+cr.Kind()+".tls.ca", "%v", fe)
		} else if err != nil {
			return nil, fail("."+cr.Kind(), "%v", err)
		}
		r.Framing, r.Backend = bridge.Binary, d
		r.Subprotocols = dialSubprotocols(r.Subprotocols)
	}

	if r.Auth, err = configAuth(f, &cr.Auth, key+".auth", log); err != nil {
		endBuilt(&bridge.Server{Routes: []*bridge.Route{r}})
		return nil, err
	}
	r.ClientCNs = cr.Auth.ClientCN
	return r, nil
}

// sharedBackend makes one program serve every client of a route: b, in
// a hub with s's policies (checked by config.Shared.Check).
func sharedBackend(b bridge.Backend, s *config.Shared, framing bridge.Framing, maxMsg int, log *slog.Logger) *bridge.Shared {
	h := &bridge.Shared{Backend: b, Framing: framing, MaxMessage: maxMsg, Linger: s.Linger, Replay: s.Replay, Queue: int(s.Queue), ReadOnly: s.Input == "none", Writers: s.Writers, Log: log}
	h.Start, _ = bridge.ParseStartPolicy(s.Start)
	h.Restart, _ = bridge.ParseRestartPolicy(s.Restart)
	h.Slow, _ = bridge.ParseSlowPolicy(s.Slow)
	return h
}

// configProgram is what an exec or pty backend runs: its command (Validate
// has looked it up) and switches; a folder of scripts has no command.
// HTTPS=on is set by each request's listener.
func configProgram(p *config.Program, log *slog.Logger, grace time.Duration) (bridge.Program, error) {
	exe := newProgram(log, grace, p.PassEnv)
	exe.ReverseLookup, exe.URLArgs = p.ReverseLookup, p.URLArgs
	if p.Command == "" {
		return exe, nil
	}
	path, err := exec.LookPath(p.Command)
	if err != nil {
		return bridge.Program{}, fmt.Errorf("%q: not found or not executable", p.Command)
	}
	if exe.Command, err = filepath.Abs(path); err != nil {
		return bridge.Program{}, err
	}
	exe.Args = p.Args
	return exe, nil
}

func configTerminal(p *config.PTY) (*web.Terminal, error) {
	t := &web.Terminal{Title: p.Title, ReadOnly: p.ReadOnly, Options: map[string]any{}}
	for name, v := range p.TermOptions {
		name, value, err := web.ParseTermOption(name + "=" + v)
		if err != nil {
			return nil, err
		}
		t.Options[name] = value
	}
	var err error
	if t.URLOptions, err = web.ParseURLOptions(strings.Join(p.URLTermOptions, ",")); err != nil {
		return nil, err
	}
	if p.Index != "" {
		if t.Index, err = os.ReadFile(p.Index); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// newTokenRedis is bridge.NewTokenRedis; a test sees the clients made.
var newTokenRedis = bridge.NewTokenRedis

func configDial(cr *config.Route, log *slog.Logger) (_ *bridge.Dial, err error) {
	var o config.DialOptions
	var target bridge.Target
	var tokens bridge.TokenSource
	defer func() {
		if c, ok := tokens.(io.Closer); ok && err != nil {
			c.Close() // a Redis client, made before what failed
		}
	}()
	switch {
	case cr.TCP != nil:
		addr, err := bridge.ParseHostPort(cr.TCP.Target)
		if err != nil {
			return nil, err
		}
		o, target = cr.TCP.DialOptions, bridge.Target{Network: "tcp", Address: addr}
	case cr.Unix != nil:
		o, target = cr.Unix.DialOptions, bridge.Target{Network: "unix", Address: cr.Unix.Target}
	case cr.Tokens.Redis != "":
		o = cr.Tokens.DialOptions
		pw, err := cr.Tokens.RedisPassword()
		if err != nil {
			return nil, err
		}
		tr, err := newTokenRedis(cr.Tokens.Redis, pw, log)
		if err != nil {
			return nil, err
		}
		tokens = tr
	default:
		o = cr.Tokens.DialOptions
		tf := &bridge.TokenFile{Path: cr.Tokens.File, Log: log}
		if err := tf.Load(); err != nil {
			return nil, fmt.Errorf("%s: %v", tf.Path, err)
		}
		tokens = tf
	}
	d := newDial(log, cr.CloseGrace, o.DialTimeout)
	d.Target, d.Tokens = target, tokens
	d.HostToken = cr.Tokens != nil && cr.Tokens.HostToken
	if t := o.TLS; t != nil {
		c := wstls.Client{CA: t.CA, ServerName: t.ServerName}
		if d.TLS, err = c.Config(); err != nil {
			return nil, err
		}
	}
	if o.ProxyProtocol != "" {
		if d.ProxyProtocol, err = bridge.ParseProxyProtocol(o.ProxyProtocol); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// configAuth builds a route's auth (at key in f); nil without any method.
// Errors are *config.Errors at the key.
func configAuth(f *config.File, a *config.Auth, key string, log *slog.Logger) (*auth.Checker, error) {
	source := auth.TokenSource{Query: a.Query, Cookie: a.Cookie}
	var methods []auth.Method
	for _, u := range a.Basic {
		pw, err := u.Secret()
		if err != nil {
			return nil, f.Errorf(key, "%v", err)
		}
		b, err := auth.ParseBasic(u.User + ":" + pw)
		if err != nil {
			return nil, f.Errorf(key, "%v", err)
		}
		methods = append(methods, b)
	}
	if a.Htpasswd != "" {
		h, err := auth.NewHtpasswd(a.Htpasswd, keyName(f, key+".htpasswd"), log)
		if err != nil {
			return nil, f.Errorf(key+".htpasswd", "%v", err)
		}
		methods = append(methods, h)
	}
	if a.BearerTokenFile != "" {
		b, err := auth.NewBearerFile(a.BearerTokenFile, keyName(f, key+".bearer_token_file"), source, log)
		if err != nil {
			return nil, f.Errorf(key+".bearer_token_file", "%v", err)
		}
		methods = append(methods, b)
	}
	if j := a.JWT; j != nil {
		m, err := auth.NewJWT(j.Key, j.Audience, source)
		if err != nil {
			return nil, f.Errorf(key+".jwt.key", "%v", err)
		}
		methods = append(methods, m)
	}
	return newChecker(methods, a.FailDelay, a.FailLimit, log), nil
}
