package main

// The command line as a config file: fileFromFlags reads the server's flags
// and arguments into the same config.File a --config file loads into, so
// that one File.Validate checks both and one buildConfigServer builds both.
// It checks each flag's syntax and the flags' combinations itself, with
// messages that name the flag; flagError names the flag of a key Validate
// (or the builder) refuses.

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/web"
)

// flagExtras is what a command line says that a config file cannot yet
// (print-config refuses the same list); buildServerOn applies it to the
// server buildConfigServer built.
type flagExtras struct {
	once, exitNoConn bool // --once, --exit-no-conn
	// framing is --framing with a dialing backend: a file's are binary.
	framing *bridge.Framing
	// cgiEnv is --passenv with a dialing backend, which reaches only CGI
	// scripts: a file gives those PATH and LD_LIBRARY_PATH.
	cgiEnv []string
	// headers are --header, --header-ws and --header-http when one of them
	// gives a name twice: a file gives each name one value.
	headers map[string]http.Header
}

// apply sets on srv, built from the File of the same flags, what the File
// could not say.
func (x *flagExtras) apply(srv *bridge.Server) {
	srv.Once, srv.ExitNoConn = x.once, x.exitNoConn
	r := srv.Routes[0]
	if x.framing != nil {
		r.Framing = *x.framing
	}
	if x.cgiEnv != nil {
		r.CGIEnv = x.cgiEnv
	}
	if h := x.headers; h != nil {
		r.Header, r.HeaderWS, r.HeaderHTTP = h["header"], h["header-ws"], h["header-http"]
	}
}

// fileFromFlags reads the server's flags and arguments into a File of one
// route, with what a File cannot say in the extras. It checks what only
// the command line can get wrong (syntax, combinations of flags); the File
// still needs Validate.
func fileFromFlags(c *cli.Context) (*config.File, *flagExtras, error) {
	x := &flagExtras{once: c.Bool("once"), exitNoConn: c.Bool("exit-no-conn")}
	f := config.New()
	r := config.Route{Settings: f.Defaults}

	for _, name := range []string{"port", "redirport"} {
		if p := c.Int(name); p < 0 || p > 65535 {
			return nil, nil, usageError("--%s: %d is not a port (0-65535)", name, p)
		}
	}
	f.Admin.Address = c.String("admin-address")
	r.MaxSessions = c.Int("maxforks")
	for _, d := range []struct {
		name string
		max  time.Duration
		into *time.Duration
	}{{"closems", maxCloseWait, &r.CloseGrace}, {"pingms", maxPing, &r.PingInterval}} {
		ms := c.Int(d.name)
		if ms < 0 || ms > int(d.max/time.Millisecond) {
			return nil, nil, usageError("--%s: %d is out of range (0 to %d ms)", d.name, ms, d.max/time.Millisecond)
		}
		*d.into = time.Duration(ms) * time.Millisecond
	}
	maxMsg := c.Int("maxframesize")
	if maxMsg == 0 {
		maxMsg = maxMessageLimit // websocketd's "no limit", within what a message can take here
	}
	if maxMsg < 1 || maxMsg > maxMessageLimit {
		return nil, nil, usageError("--maxframesize: %d is out of range (1 to 1073741824 bytes, or 0 for that much)", maxMsg)
	}
	r.MaxMessage = config.Size(maxMsg)

	framing, err := bridge.ParseFraming(c.String("framing"))
	if err != nil {
		return nil, nil, usageError("--framing: %v", err)
	}
	if c.Bool("binary") {
		if c.IsSet("framing") && framing != bridge.Binary {
			return nil, nil, usageError("--binary contradicts --framing %s", framing)
		}
		framing = bridge.Binary
	}

	r.Origins = c.StringSlice("origin")
	origins, err := bridge.ParseOrigins(r.Origins)
	if err != nil {
		return nil, nil, usageError("--origin: %v", err)
	}
	if c.Bool("sameorigin") && (origins.AllowAll || len(origins.Allowed) > 0) {
		return nil, nil, usageError("--sameorigin contradicts --origin")
	}

	headers := map[string]http.Header{}
	for _, h := range []struct {
		name string
		into *map[string]string
	}{{"header", &r.Headers.All}, {"header-ws", &r.Headers.WS}, {"header-http", &r.Headers.HTTP}} {
		parsed := http.Header{}
		for _, v := range c.StringSlice(h.name) {
			if err := bridge.ParseHeader(parsed, v); err != nil {
				return nil, nil, usageError("--%s: %v", h.name, err)
			}
		}
		for name, values := range parsed {
			if *h.into == nil {
				*h.into = map[string]string{}
			}
			(*h.into)[name] = values[len(values)-1]
			if len(values) > 1 {
				x.headers = headers
			}
		}
		headers[h.name] = parsed
	}

	for _, name := range []string{"dir", "staticdir", "cgidir"} {
		if d := c.String(name); d != "" {
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				return nil, nil, usageError("--%s: %s is not a readable folder", name, d)
			}
		}
	}
	r.Static, r.CGI, r.DevConsole = c.String("staticdir"), c.String("cgidir"), c.Bool("devconsole")
	if r.DevConsole && (r.Static != "" || r.CGI != "" || c.Bool("pty")) {
		return nil, nil, usageError("--devconsole cannot be used with --staticdir, --cgidir or --pty")
	}
	if r.Path, err = parseBasePath(c.String("base-path")); err != nil {
		return nil, nil, err
	}
	if err := checkTerminalFlags(c); err != nil {
		return nil, nil, err
	}
	if c.String("unixsocket") != "" && (len(c.StringSlice("address")) > 0 || c.IsSet("redirport")) {
		return nil, nil, usageError("--unixsocket cannot be used with --address or --redirport")
	}

	passNames := splitList(c.String("passenv"))
	if err := backendFromFlags(c, &r, x, framing, passNames); err != nil {
		return nil, nil, err
	}
	if r.Exec != nil { // --pty refused --stderr and --passstderr
		mode, err := stderrFromFlags(c, framing, maxMsg)
		if err != nil {
			return nil, nil, err
		}
		r.Exec.Stderr = mode.String()
	}
	r.Subprotocols = splitLists(c.StringSlice("subprotocol"))
	if v := c.String("compression"); v != "auto" { // auto is the file's default, left out
		r.Compression = v
	}
	if r.IdleTimeout, err = parseDuration("idle-timeout", c.String("idle-timeout"), maxIdle); err != nil {
		return nil, nil, err
	}
	if f.Timeouts.DrainTimeout, f.Timeouts.DrainDelay, err = drainFlags(c); err != nil {
		return nil, nil, err
	}
	f.TrustedProxies = splitLists(c.StringSlice("trusted-proxy"))
	for _, v := range f.TrustedProxies {
		if _, err := bridge.ParseTrustedProxy(v); err != nil {
			return nil, nil, usageError("--trusted-proxy: %v", err)
		}
	}
	f.AllowedHosts = splitLists(c.StringSlice("allowed-host"))
	if r.Auth, err = authFromFlags(c); err != nil {
		return nil, nil, err
	}
	tls, err := tlsFromFlags(c)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, a := range splitLists(c.StringSlice("address")) {
		if _, _, err := net.SplitHostPort(a); err == nil {
			return nil, nil, usageError("--address: %q: give the port with --port, not in the address", a)
		}
		if seen[a] {
			return nil, nil, usageError("--address %s twice", a)
		}
		seen[a] = true
	}
	f.Listen = listenFromFlags(c, tls)
	f.Log = config.Log{Level: strings.ToLower(c.String("loglevel")), Format: c.String("logformat")}
	f.Routes = []config.Route{r}
	return f, x, nil
}

// listenFromFlags is a listener per --address (a TLS they share), or one
// on loopback, or --unixsocket's.
func listenFromFlags(c *cli.Context, tls *config.ServerTLS) []config.Listener {
	if u := c.String("unixsocket"); u != "" {
		return []config.Listener{{Unix: u, TLS: tls}}
	}
	addrs := splitLists(c.StringSlice("address"))
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var ls []config.Listener
	for _, a := range addrs {
		ls = append(ls, config.Listener{Address: a, Port: c.Int("port"), RedirectPort: c.Int("redirport"), TLS: tls})
	}
	return ls
}

// checkTerminalFlags checks the browser terminal's flags: only with --pty,
// and each in its syntax.
func checkTerminalFlags(c *cli.Context) error {
	if !c.Bool("pty") {
		for _, name := range ptyOnly {
			if c.IsSet(name) {
				return usageError("--%s needs --pty", name)
			}
		}
		return nil
	}
	for _, name := range []string{"passstderr", "stderr"} {
		if c.IsSet(name) {
			return usageError("--%s means nothing with --pty: stderr is the terminal", name)
		}
	}
	if c.IsSet("unbuffer") {
		return usageError("--unbuffer means nothing with --pty: its output is a terminal already")
	}
	for _, v := range c.StringSlice("term-option") {
		if _, _, err := web.ParseTermOption(v); err != nil {
			return usageError("--term-option: %v", err)
		}
	}
	if _, err := web.ParseURLOptions(c.String("url-term-options")); err != nil {
		return usageError("--url-term-options: %v", err)
	}
	if f := c.String("index"); f != "" {
		if _, err := os.ReadFile(f); err != nil {
			return usageError("--index: %v", err)
		}
	}
	if c.IsSet("record-max") && c.String("record") == "" {
		return usageError("--record-max needs --record")
	}
	if d := c.String("record"); d != "" {
		probe, err := os.CreateTemp(d, ".wsbridge-probe-*")
		if err != nil {
			return usageError("--record: %s is not a folder wsbridge can write: %v", d, err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	if c.IsSet("framing") || c.Bool("binary") {
		return usageError("--pty has its own framing (binary terminal bytes, JSON control messages): drop --framing and --binary")
	}
	return nil
}

// stderrFromFlags reads --stderr, and --passstderr, websocketd 0.4's name
// for --stderr pass.
func stderrFromFlags(c *cli.Context, framing bridge.Framing, maxMsg int) (bridge.StderrMode, error) {
	mode, err := bridge.ParseStderrMode(c.String("stderr"))
	if err != nil {
		return 0, usageError("--stderr: %v", err)
	}
	if c.Bool("passstderr") {
		if c.IsSet("stderr") && mode != bridge.StderrPass {
			return 0, usageError("--passstderr (--stderr pass) contradicts --stderr %s", mode)
		}
		mode = bridge.StderrPass
	}
	if mode != bridge.StderrJSON {
		return mode, nil
	}
	switch {
	case c.Bool("binary"):
		return 0, usageError("--stderr json contradicts --binary: it sends a JSON text message per line")
	case framing != bridge.Line:
		return 0, usageError("--stderr json contradicts --framing %s: it sends a JSON text message per line", framing)
	case maxMsg < bridge.MinJSONMessage:
		return 0, usageError("--stderr json needs --maxframesize %d or more: a message holds a line and the JSON around it", bridge.MinJSONMessage)
	}
	return mode, nil
}

// Flags that only mean something for one kind of backend.
var (
	execOnly = []string{"passstderr", "stderr", "unbuffer", "reverselookup", "url-args", "pty", "shared", "shared-options"}
	dialOnly = []string{"host-token", "dial-timeout", "tcp-tls", "tcp-ca", "tcp-servername", "proxy-protocol"}
	ptyOnly  = []string{"title", "term-option", "url-term-options", "index", "readonly", "record", "record-max", "linger", "scrollback", "writers"}
)

// backendFromFlags gives r the one backend the flags and arguments name.
func backendFromFlags(c *cli.Context, r *config.Route, x *flagExtras, framing bridge.Framing, passNames []string) error {
	args := c.Args().Slice()
	var kinds []string
	if len(args) > 0 {
		kinds = append(kinds, "COMMAND")
	}
	for _, name := range []string{"dir", "tcp", "unix", "token-file", "token-redis"} {
		if c.String(name) != "" {
			kinds = append(kinds, "--"+name)
		}
	}
	switch {
	case len(kinds) == 0:
		return usageError("missing COMMAND (or --dir, --tcp, --unix, --token-file, --token-redis): what should each WebSocket reach?")
	case len(kinds) > 1:
		return usageError("give one backend, not %s", strings.Join(kinds, " and "))
	case kinds[0] == "COMMAND" || kinds[0] == "--dir":
		for _, name := range dialOnly {
			if c.IsSet(name) {
				return usageError("--%s needs --tcp, --unix, --token-file or --token-redis", name)
			}
		}
		return programFromFlags(c, r, framing, passNames, args)
	}
	for _, name := range execOnly {
		if c.IsSet(name) {
			return usageError("--%s is for programs; it means nothing with %s", name, kinds[0])
		}
	}
	if c.IsSet("framing") && framing != bridge.Binary {
		x.framing = &framing
	}
	x.cgiEnv = passNames
	return dialFromFlags(c, r)
}

// programFromFlags is the exec backend, or with --pty the pty backend.
func programFromFlags(c *cli.Context, r *config.Route, framing bridge.Framing, passNames, args []string) error {
	prog := config.Program{PassEnv: passNames, ReverseLookup: c.Bool("reverselookup"), URLArgs: c.Bool("url-args")}
	dir := c.String("dir")
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return usageError("--dir: %v", err)
		}
		dir = abs
	} else {
		path, err := exec.LookPath(args[0])
		if err != nil {
			return usageError("COMMAND %q: not found or not executable", args[0])
		}
		if prog.Command, err = filepath.Abs(path); err != nil {
			return usageError("COMMAND %q: %v", args[0], err)
		}
		prog.Args = args[1:]
	}
	shared, err := sharedOptions(c)
	if err != nil {
		return err
	}
	if shared != nil && dir != "" {
		return usageError("--shared runs one COMMAND for every client, not --dir's scripts")
	}
	if !c.Bool("pty") {
		r.Exec = &config.Exec{Program: prog, Dir: dir, Framing: framing.String(), Unbuffer: c.Bool("unbuffer"), Shared: shared}
		return nil
	}
	p := &config.PTY{Program: prog, Dir: dir, Title: c.String("title"), ReadOnly: c.Bool("readonly"), Index: c.String("index"), Record: c.String("record")}
	for _, v := range c.StringSlice("term-option") {
		name, value, _ := strings.Cut(v, "=")
		if p.TermOptions == nil {
			p.TermOptions = map[string]string{}
		}
		p.TermOptions[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	p.URLTermOptions = splitList(c.String("url-term-options"))
	if p.Record != "" {
		n, err := parseSize(c.String("record-max"))
		if err != nil {
			return usageError("--record-max: %v", err)
		}
		p.RecordMax = config.Size(n)
	}
	if p.Linger, err = parseDuration("linger", c.String("linger"), config.MaxLinger); err != nil {
		return err
	}
	for _, name := range []string{"scrollback", "writers"} {
		if c.IsSet(name) && p.Linger == 0 {
			return usageError("--%s needs --linger", name)
		}
	}
	if p.Linger > 0 {
		n, err := parseSize(c.String("scrollback"))
		if err != nil {
			return usageError("--scrollback: %v", err)
		}
		p.Scrollback = config.Size(n)
		p.Writers = c.String("writers")
	}
	r.PTY = p
	return nil
}

// dialFromFlags is the tcp, unix or tokens backend.
func dialFromFlags(c *cli.Context, r *config.Route) error {
	timeout, err := parseDuration("dial-timeout", c.String("dial-timeout"), maxDial)
	if err != nil {
		return err
	}
	if timeout == 0 {
		return usageError("--dial-timeout: must be more than 0")
	}
	o := config.DialOptions{DialTimeout: timeout, ProxyProtocol: c.String("proxy-protocol")}
	if c.Bool("host-token") && c.String("token-file") == "" && c.String("token-redis") == "" {
		return usageError("--host-token needs --token-file or --token-redis")
	}
	if c.Bool("tcp-tls") {
		if c.String("unix") != "" && c.String("tcp-servername") == "" {
			return usageError("--tcp-tls with --unix needs --tcp-servername: there is no host name to verify")
		}
		o.TLS = &config.BackendTLS{CA: c.String("tcp-ca"), ServerName: c.String("tcp-servername")}
	} else {
		for _, name := range []string{"tcp-ca", "tcp-servername"} {
			if c.IsSet(name) {
				return usageError("--%s needs --tcp-tls", name)
			}
		}
	}
	switch {
	case c.String("tcp") != "":
		r.TCP = &config.Dial{Target: c.String("tcp"), DialOptions: o}
	case c.String("unix") != "":
		r.Unix = &config.Dial{Target: c.String("unix"), DialOptions: o}
	default:
		r.Tokens = &config.Tokens{File: c.String("token-file"), Redis: c.String("token-redis"), HostToken: c.Bool("host-token"), DialOptions: o}
	}
	return nil
}

// authFromFlags is the route's auth.
func authFromFlags(c *cli.Context) (config.Auth, error) {
	a := config.Auth{
		Htpasswd:        c.String("htpasswd"),
		BearerTokenFile: c.String("bearer-token-file"),
		Query:           c.String("auth-query"),
		Cookie:          c.String("auth-cookie"),
		FailLimit:       c.Int("auth-fail-limit"),
		ClientCN:        splitLists(c.StringSlice("client-cn")),
	}
	for _, v := range c.StringSlice("basic-auth") {
		if _, err := auth.ParseBasic(v); err != nil {
			return a, usageError("--basic-auth: %v", err)
		}
		user, password, _ := strings.Cut(v, ":")
		a.Basic = append(a.Basic, config.BasicUser{User: user, Password: password})
	}
	if k := c.String("jwt-key"); k != "" {
		a.JWT = &config.JWT{Key: k, Audience: c.String("jwt-audience")}
	} else if c.IsSet("jwt-audience") {
		return a, usageError("--jwt-audience needs --jwt-key")
	}
	var err error
	a.FailDelay, err = parseDuration("auth-fail-delay", c.String("auth-fail-delay"), maxFailDelay)
	return a, err
}

// tlsOn says whether the server speaks TLS: --ssl, or ACME.
func tlsOn(c *cli.Context) bool { return c.Bool("ssl") || len(c.StringSlice("acme-domain")) > 0 }

// tlsFromFlags is the listeners' TLS; nil without --ssl or ACME.
func tlsFromFlags(c *cli.Context) (*config.ServerTLS, error) {
	certs, keys := c.StringSlice("sslcert"), c.StringSlice("sslkey")
	domains := splitLists(c.StringSlice("acme-domain"))
	if !tlsOn(c) {
		for _, name := range []string{"sslcert", "sslkey", "sslca", "client-cn"} {
			if c.IsSet(name) {
				return nil, usageError("--%s needs --ssl (or --acme-domain)", name)
			}
		}
		return nil, nil
	}
	if len(certs) != len(keys) {
		return nil, usageError("--sslcert and --sslkey come in pairs: got %d certificates and %d keys", len(certs), len(keys))
	}
	if len(certs) == 0 && len(domains) == 0 {
		return nil, usageError("--ssl needs both --sslcert and --sslkey (or --acme-domain)")
	}
	if c.IsSet("client-cn") && c.String("sslca") == "" {
		return nil, usageError("--client-cn needs --sslca")
	}
	t := &config.ServerTLS{ClientCA: c.String("sslca")}
	for i := range certs {
		t.Certs = append(t.Certs, config.CertPair{Cert: certs[i], Key: keys[i]})
	}
	if len(domains) > 0 {
		cache, err := acmeCache(c.String("acme-cache"))
		if err != nil {
			return nil, usageError("--acme-domain needs --acme-cache: %v", err)
		}
		t.ACME = &config.ACME{Domains: domains, Cache: cache, Email: c.String("acme-email"), Directory: c.String("acme-directory")}
	}
	return t, nil
}

// keyFlags name the flag (or argument) that fills each key of a File from
// fileFromFlags, without indexes and the route's "routes." ("exec.dir").
// A key's message goes after its flag; "" is the message alone (it names
// what it is about).
var keyFlags = func() map[string]string {
	m := map[string]string{
		"listen": "--address", "listen.address": "--address", "listen.port": "--port",
		"listen.redirect_port": "--redirport", "listen.unix": "--unixsocket",
		"listen.tls": "", "listen.tls.certs": "", "listen.tls.certs.cert": "--sslcert", "listen.tls.certs.key": "--sslkey",
		"listen.tls.client_ca": "--sslca", "listen.tls.acme": "--acme-domain", "listen.tls.acme.domains": "--acme-domain",
		"listen.tls.acme.cache": "--acme-cache", "listen.tls.acme.directory": "--acme-directory",
		"trusted_proxies": "--trusted-proxy", "allowed_hosts": "--allowed-host",
		"log.level": "--loglevel", "log.format": "--logformat", "admin.address": "--admin-address",
		"timeouts.drain_timeout": "--drain-timeout", "timeouts.drain_delay": "--drain-delay",
		"path": "--base-path", "static": "--staticdir", "cgi": "--cgidir", "dev_console": "--devconsole",
		"origins": "--origin", "subprotocols": "--subprotocol", "max_sessions": "--maxforks",
		"max_message": "--maxframesize", "ping_interval": "--pingms", "idle_timeout": "--idle-timeout",
		"close_grace": "--closems", "compression": "--compression", "headers.all": "--header", "headers.ws": "--header-ws", "headers.http": "--header-http",
		"auth": "", "auth.basic": "--basic-auth", "auth.htpasswd": "--htpasswd", "auth.bearer_token_file": "--bearer-token-file",
		"auth.jwt": "--jwt-key", "auth.query": "--auth-query", "auth.cookie": "--auth-cookie",
		"auth.fail_delay": "--auth-fail-delay", "auth.fail_limit": "--auth-fail-limit", "auth.client_cn": "--client-cn",
		"tcp": "--tcp", "tcp.target": "--tcp", "unix": "--unix", "unix.target": "--unix",
		"tokens": "", "tokens.file": "--token-file", "tokens.redis": "--token-redis", "tokens.host_token": "--host-token",
	}
	for _, kind := range []string{"exec", "pty"} {
		m[kind] = ""
		m[kind+".command"], m[kind+".args"], m[kind+".dir"] = "COMMAND", "COMMAND", "--dir"
		m[kind+".pass_env"] = "--passenv"
	}
	m["exec.framing"], m["exec.stderr"], m["exec.unbuffer"] = "--framing", "--stderr", "--unbuffer"
	for _, k := range []string{"title", "term_options", "url_term_options", "index", "record", "record_max", "linger", "scrollback", "writers"} {
		m["pty."+k] = "--" + strings.ReplaceAll(k, "_", "-")
	}
	m["pty.term_options"] = "--term-option"
	for _, kind := range []string{"tcp", "unix", "tokens"} {
		m[kind+".dial_timeout"], m[kind+".proxy_protocol"] = "--dial-timeout", "--proxy-protocol"
		m[kind+".tls"], m[kind+".tls.ca"], m[kind+".tls.server_name"] = "--tcp-tls", "--tcp-ca", "--tcp-servername"
	}
	return m
}()

var (
	keyIndex = regexp.MustCompile(`\[\d+\]`)
	certPair = regexp.MustCompile(`^listen\[\d+\]\.tls\.certs\[(\d+)\]$`)
)

// flagError is a usage error that names the flag of a *config.Error's key
// in f, a File from fileFromFlags; other errors are usage errors as they are.
func flagError(f *config.File, err error) error {
	var e *config.Error
	if !errors.As(err, &e) {
		return usageError("%v", err)
	}
	if m := certPair.FindStringSubmatch(e.Key); m != nil { // the message names neither file
		i, _ := strconv.Atoi(m[1])
		p := f.Listen[0].TLS.Certs[i]
		return usageError("--sslcert %s / --sslkey %s: %s", p.Cert, p.Key, e.Msg)
	}
	flag, k, ok := flagOf(e.Key)
	switch {
	case !ok:
		return usageError("%s: %s", e.Key, e.Msg) // a key no flag fills: a bug here
	case flag == "":
		return usageError("%s", e.Msg)
	case k == "tokens.file" || k == "listen.tls.acme.cache": // the message starts with the file
		return usageError("%s %s", flag, e.Msg)
	}
	return usageError("%s: %s", flag, e.Msg)
}

// flagOf is the flag that fills key (or its closest parent key k that one
// fills) in a File from fileFromFlags; "" for a key whose messages say what
// they are about.
func flagOf(key string) (flag, k string, ok bool) {
	for k = strings.TrimPrefix(keyIndex.ReplaceAllString(key, ""), "routes."); k != ""; k, _, _ = cutLast(k) {
		if flag, ok = keyFlags[k]; ok {
			return flag, k, true
		}
	}
	return "", "", false
}

// keyName names key in log lines: as its flag for a File from the command
// line (fileFromFlags leaves Path empty), else as the key itself.
func keyName(f *config.File, key string) string {
	if flag, _, ok := flagOf(key); f.Path == "" && ok && flag != "" {
		return flag
	}
	return key
}

// cutLast cuts "a.b.c" into "a.b" and "c".
func cutLast(k string) (string, string, bool) {
	i := strings.LastIndex(k, ".")
	if i < 0 {
		return "", k, false
	}
	return k[:i], k[i+1:], true
}

// sharedOptions reads --shared and --shared-options; nil without either.
func sharedOptions(c *cli.Context) (*config.Shared, error) {
	if !c.Bool("shared") && c.String("shared-options") == "" {
		return nil, nil
	}
	if c.Bool("pty") {
		return nil, usageError("--shared is for COMMAND on pipes, not --pty")
	}
	s := &config.Shared{}
	for _, kv := range splitList(c.String("shared-options")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usageError("--shared-options: %q is not KEY=VALUE", kv)
		}
		var err error
		switch k = strings.TrimSpace(k); k {
		case "start":
			s.Start = v
		case "linger":
			s.Linger, err = time.ParseDuration(v)
		case "restart":
			s.Restart = v
		case "replay":
			s.Replay, err = strconv.Atoi(v)
		case "queue":
			var n int64
			n, err = parseSize(v)
			s.Queue = config.Size(n)
		case "slow":
			s.Slow = v
		case "input":
			s.Input = v
		case "writers":
			s.Writers = strings.Split(v, ":")
		default:
			return nil, usageError("--shared-options: unknown key %q (want start, linger, restart, replay, queue, slow, input or writers)", k)
		}
		if err != nil {
			return nil, usageError("--shared-options %s: %v", k, err)
		}
	}
	s.Fill()
	if key, err := s.Check(); err != nil {
		return nil, usageError("--shared-options %s: %v", key, err)
	}
	return s, nil
}
