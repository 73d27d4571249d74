package main

// wsbridge print-config: the config file a server command line stands for,
// so that every websocketd, websockify, ttyd or gotty command line has a
// path to a file. It parses and checks the server's own flags with the
// server's own code (serverFromFlags), then writes only what differs from the
// defaults.

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/web"
	"go.yaml.in/yaml/v3"
)

func printConfigCommand() *cli.Command {
	var fs []cli.Flag
	for _, f := range flags() {
		if n := f.Names()[0]; n != "config" && n != "license" {
			fs = append(fs, f)
		}
	}
	return &cli.Command{
		Name:      "print-config",
		Usage:     "print the config file (YAML) that serves what a server command line does",
		UsageText: "wsbridge print-config [server flags] [--] [COMMAND [ARG...]] > wsbridge.yaml",
		Description: "Takes the server's flags and arguments, checks them as the server would (a bad one\n" +
			"exits 2 with the same message), and prints the equivalent config file: the listener,\n" +
			"the server's settings and one route, with only what differs from the defaults. Serve it\n" +
			"with wsbridge --config FILE. Passwords of --basic-auth are not written: each user gets\n" +
			"a password_env variable to set (stderr names it).",
		Flags:        fs,
		OnUsageError: commandUsageError,
		Action: func(c *cli.Context) error {
			if _, err := newLogger(c.String("loglevel"), c.String("logformat")); err != nil {
				return err // checked as the server does
			}
			// Warnings only: "token file read" is news to a server's log,
			// not to someone reading a config file.
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
			f, _, err := serverFromFlags(c, log, nil)
			if err != nil {
				return err
			}
			doc, notes, err := configYAML(c, f)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintln(c.App.ErrWriter, "wsbridge print-config: "+n)
			}
			return writeYAML(c.App.Writer, doc)
		},
	}
}

// writeYAML writes doc with a two-space indent.
func writeYAML(w io.Writer, doc *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// mapping is a YAML mapping built in order, leaving out what is unset.
type mapping struct{ n *yaml.Node }

func newMapping() mapping { return mapping{&yaml.Node{Kind: yaml.MappingNode}} }

// set adds key: v, with comment above it.
func (m mapping) set(key string, v any, comment string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Value: key, HeadComment: comment}
	var n *yaml.Node
	switch v := v.(type) {
	case mapping:
		n = v.n
	case *yaml.Node:
		n = v
	default:
		n = &yaml.Node{}
		if err := n.Encode(v); err != nil {
			panic(err) // plain values only
		}
	}
	m.n.Content = append(m.n.Content, k, n)
}

// setIf adds key: v unless v is its type's zero value (or an empty list).
func (m mapping) setIf(key string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return
		}
	case bool:
		if !x {
			return
		}
	case int:
		if x == 0 {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case map[string]string:
		if len(x) == 0 {
			return
		}
	case time.Duration:
		if x == 0 {
			return
		}
		v = shortDuration(x)
	case mapping:
		if len(x.n.Content) == 0 {
			return
		}
	}
	m.set(key, v, "")
}

func list(items ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		c := &yaml.Node{}
		if m, ok := it.(mapping); ok {
			c = m.n
		} else if err := c.Encode(it); err != nil {
			panic(err)
		}
		n.Content = append(n.Content, c)
	}
	return n
}

// abs makes a flag's path absolute: the file's relative paths are relative
// to its folder, the flags' to the working directory.
func abs(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// configYAML is the config file of the checked flags in c, whose File is
// f, and notes for stderr. Flags that a file cannot say yet are usage
// errors.
func configYAML(c *cli.Context, f *config.File) (*yaml.Node, []string, error) {
	for _, name := range []string{"once", "exit-no-conn"} {
		if c.Bool(name) {
			return nil, nil, usageError("--%s has no config file key yet: keep that server on the command line", name)
		}
	}
	var notes []string
	top := newMapping()

	// The listener: one per --address. Its port is always written, to be
	// found and changed.
	var listeners []any
	port := c.Int("port")
	listener := func(address string) mapping {
		l := newMapping()
		if u := c.String("unixsocket"); u != "" {
			l.set("unix", abs(u), "")
		} else {
			l.setIf("address", address)
			l.set("port", port, "")
		}
		if t := tlsYAML(c); len(t.n.Content) > 0 || tlsOn(c) {
			l.set("tls", t, "")
		}
		l.setIf("redirect_port", c.Int("redirport"))
		return l
	}
	if addrs := splitLists(c.StringSlice("address")); len(addrs) > 0 {
		for _, a := range addrs {
			listeners = append(listeners, listener(a))
		}
	} else {
		listeners = append(listeners, listener(""))
	}
	comment := "no address: loopback only (127.0.0.1 and ::1)"
	if len(splitLists(c.StringSlice("address"))) > 0 || c.String("unixsocket") != "" {
		comment = ""
	}
	top.set("listen", list(listeners...), comment)
	top.setIf("trusted_proxies", splitLists(c.StringSlice("trusted-proxy")))
	top.setIf("allowed_hosts", splitLists(c.StringSlice("allowed-host")))
	logm := newMapping()
	if v := strings.ToLower(c.String("loglevel")); v != "access" { // the file's are lower case
		logm.set("level", v, "")
	}
	if v := c.String("logformat"); v != "text" {
		logm.set("format", v, "")
	}
	top.setIf("log", logm)
	timeouts := newMapping()
	timeouts.setIf("drain_timeout", f.Timeouts.DrainTimeout)
	timeouts.setIf("drain_delay", f.Timeouts.DrainDelay)
	top.setIf("timeouts", timeouts)
	if a := c.String("admin-address"); a != "" {
		adm := newMapping()
		adm.set("address", a, "")
		top.set("admin", adm, "")
	}

	// The route.
	route := &f.Routes[0]
	r := newMapping()
	r.set("path", route.Path, "")
	kind, backend, err := backendYAML(c)
	if err != nil {
		return nil, nil, err
	}
	r.set(kind, backend, "")
	r.setIf("static", abs(c.String("staticdir")))
	r.setIf("cgi", abs(c.String("cgidir")))
	r.setIf("dev_console", c.Bool("devconsole"))
	r.setIf("origins", splitLists(c.StringSlice("origin")))
	a, authNotes := authYAML(c, route.Auth.FailDelay)
	notes = append(notes, authNotes...)
	r.setIf("auth", a)
	r.setIf("subprotocols", splitLists(c.StringSlice("subprotocol")))
	r.setIf("max_sessions", c.Int("maxforks"))
	if m := c.Int("maxframesize"); m != 1<<20 {
		r.set("max_message", cmp.Or(m, maxMessageLimit), "")
	}
	r.setIf("ping_interval", route.PingInterval)
	r.setIf("idle_timeout", route.IdleTimeout)
	r.setIf("close_grace", route.CloseGrace)
	r.setIf("compression", route.Compression)
	h := newMapping()
	for _, k := range []struct{ flag, key string }{{"header", "all"}, {"header-ws", "ws"}, {"header-http", "http"}} {
		m := map[string]string{}
		for _, v := range c.StringSlice(k.flag) {
			name, value, _ := strings.Cut(v, ":")
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			if _, dup := m[name]; dup {
				return nil, nil, usageError("--%s %s twice: a config file gives each header one value", k.flag, name)
			}
			m[name] = strings.TrimSpace(value)
		}
		h.setIf(k.key, m)
	}
	r.setIf("headers", h)
	top.set("routes", list(r), "")

	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{top.n},
		HeadComment: "wsbridge config file, printed by wsbridge print-config.\n" +
			"Serve it with: wsbridge --config FILE (check it: wsbridge check-config FILE)."}
	return doc, notes, nil
}

func tlsYAML(c *cli.Context) mapping {
	t := newMapping()
	var certs []any
	keys := c.StringSlice("sslkey")
	for i, cert := range c.StringSlice("sslcert") {
		p := newMapping()
		p.set("cert", abs(cert), "")
		p.set("key", abs(keys[i]), "")
		certs = append(certs, p)
	}
	if len(certs) > 0 {
		t.set("certs", list(certs...), "")
	}
	if domains := splitLists(c.StringSlice("acme-domain")); len(domains) > 0 {
		a := newMapping()
		a.set("domains", domains, "")
		a.setIf("cache", abs(c.String("acme-cache")))
		a.setIf("email", c.String("acme-email"))
		if d := c.String("acme-directory"); d != letsEncrypt {
			a.set("directory", d, "")
		}
		t.set("acme", a, "")
	}
	t.setIf("client_ca", abs(c.String("sslca")))
	return t
}

// backendYAML is the route's one backend: its key and its settings.
func backendYAML(c *cli.Context) (string, mapping, error) {
	b := newMapping()
	args := c.Args().Slice()
	passEnv := splitList(c.String("passenv"))
	program := func() {
		if len(args) > 0 {
			cmd := args[0]
			if strings.Contains(cmd, "/") {
				cmd = abs(cmd)
			}
			b.set("command", cmd, "")
			if len(args) > 1 {
				b.set("args", args[1:], "")
			}
		}
		if !slices.Equal(passEnv, []string{"PATH", "LD_LIBRARY_PATH"}) {
			b.set("pass_env", list(anys(passEnv)...), "")
		}
		b.setIf("url_args", c.Bool("url-args"))
		b.setIf("reverse_lookup", c.Bool("reverselookup"))
	}
	dial := func() {
		if d, _ := parseDuration("dial-timeout", c.String("dial-timeout"), maxDial); d != 10*time.Second {
			b.set("dial_timeout", shortDuration(d), "")
		}
		if c.Bool("tcp-tls") {
			t := newMapping()
			t.setIf("ca", abs(c.String("tcp-ca")))
			t.setIf("server_name", c.String("tcp-servername"))
			b.set("tls", t, "")
		}
		b.setIf("proxy_protocol", c.String("proxy-protocol"))
	}
	isDial := c.String("tcp") != "" || c.String("unix") != "" || c.String("token-file") != "" || c.String("token-redis") != ""
	if isDial {
		if c.IsSet("framing") && c.String("framing") != "binary" {
			return "", b, usageError("--framing %s with a TCP backend has no config file key: a file's tcp, unix and tokens are binary", c.String("framing"))
		}
		if !slices.Equal(passEnv, []string{"PATH", "LD_LIBRARY_PATH"}) {
			return "", b, usageError("--passenv with a TCP backend reaches only CGI scripts, and a config file gives those PATH and LD_LIBRARY_PATH")
		}
	}
	switch {
	case c.Bool("pty"):
		if c.String("dir") != "" {
			return "", b, usageError("--pty with --dir has no config file key: a file's pty runs one command")
		}
		program()
		b.setIf("title", c.String("title"))
		opts := map[string]string{}
		for _, v := range c.StringSlice("term-option") {
			name, value, _ := strings.Cut(v, "=")
			opts[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
		b.setIf("term_options", opts)
		if v := c.String("url-term-options"); v != web.DefaultURLOptions {
			b.set("url_term_options", list(anys(splitList(v))...), "")
		}
		b.setIf("index", abs(c.String("index")))
		b.setIf("readonly", c.Bool("readonly"))
		b.setIf("record", abs(c.String("record")))
		if c.String("record") != "" && c.IsSet("record-max") {
			b.set("record_max", c.String("record-max"), "")
		}
		if linger, err := parseDuration("linger", c.String("linger"), config.MaxLinger); err != nil {
			return "", b, err
		} else if linger > 0 {
			b.set("linger", shortDuration(linger), "")
			if c.IsSet("scrollback") {
				b.set("scrollback", c.String("scrollback"), "")
			}
			if w := c.String("writers"); w != "all" {
				b.set("writers", w, "")
			}
		}
		return "pty", b, nil
	case !isDial:
		program()
		b.setIf("dir", abs(c.String("dir")))
		framing := c.String("framing")
		if c.Bool("binary") {
			framing = "binary"
		}
		if framing != "line" {
			b.set("framing", framing, "")
		}
		stderr := c.String("stderr")
		if c.Bool("passstderr") {
			stderr = "pass"
		}
		if stderr != "log" {
			b.set("stderr", stderr, "")
		}
		b.setIf("unbuffer", c.Bool("unbuffer"))
		shared, err := sharedOptions(c)
		if err != nil {
			return "", b, err
		}
		if shared != nil {
			b.set("shared", sharedYAML(shared), "")
		}
		return "exec", b, nil
	case c.String("tcp") != "":
		b.set("target", c.String("tcp"), "")
		dial()
		return "tcp", b, nil
	case c.String("unix") != "":
		b.set("target", abs(c.String("unix")), "")
		dial()
		return "unix", b, nil
	}
	if src := c.String("token-redis"); src != "" {
		b.set("redis", src, "")
	} else {
		b.set("file", abs(c.String("token-file")), "")
	}
	b.setIf("host_token", c.Bool("host-token"))
	dial()
	return "tokens", b, nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// authYAML is the route's auth. A --basic-auth password is not written
// into the file: files get copied, committed and pasted, and a password
// on the command line was a secret of one process. Each user reads it from
// a variable instead, which stderr names.
func authYAML(c *cli.Context, failDelay time.Duration) (mapping, []string) {
	a := newMapping()
	var users []any
	var notes []string
	seen := map[string]bool{}
	for _, v := range c.StringSlice("basic-auth") {
		user, _, _ := strings.Cut(v, ":")
		name := passwordEnv(user)
		for i := 2; seen[name]; i++ {
			name = passwordEnv(user) + "_" + strconv.Itoa(i)
		}
		seen[name] = true
		u := newMapping()
		u.set("user", user, "")
		u.set("password_env", name, "set "+name+" to the password --basic-auth gave "+user)
		users = append(users, u)
		notes = append(notes, fmt.Sprintf("the password of %s is not in the file: set %s to it before serving", user, name))
	}
	if len(users) > 0 {
		a.set("basic", list(users...), "")
	}
	a.setIf("htpasswd", abs(c.String("htpasswd")))
	a.setIf("bearer_token_file", abs(c.String("bearer-token-file")))
	if k := c.String("jwt-key"); k != "" {
		j := newMapping()
		j.set("key", abs(k), "")
		j.setIf("audience", c.String("jwt-audience"))
		a.set("jwt", j, "")
	}
	if q := c.String("auth-query"); q != "access_token" {
		a.set("query", q, "")
	}
	a.setIf("cookie", c.String("auth-cookie"))
	if failDelay != time.Second {
		a.set("fail_delay", durationText(failDelay), "")
	}
	if n := c.Int("auth-fail-limit"); n != 10 {
		a.set("fail_limit", n, "")
	}
	a.setIf("client_cn", splitLists(c.StringSlice("client-cn")))
	return a, notes
}

// durationText is d for the file, where "0" is a duration too.
func durationText(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return shortDuration(d)
}

// passwordEnv is the variable a user's password is read from:
// WSBRIDGE_PASSWORD_ALICE for alice.
func passwordEnv(user string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(user) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "WSBRIDGE_PASSWORD_" + b.String()
}

// sharedYAML is a route's shared: with the options that are not defaults.
func sharedYAML(s *config.Shared) mapping {
	m := newMapping()
	def := config.Shared{}
	def.Fill()
	for _, o := range []struct {
		key      string
		v        any
		notEmpty bool
	}{
		{"start", s.Start, s.Start != def.Start},
		{"linger", shortDuration(s.Linger), s.Linger != 0},
		{"restart", s.Restart, s.Restart != def.Restart},
		{"replay", s.Replay, s.Replay != 0},
		{"queue", int64(s.Queue), s.Queue != def.Queue},
		{"slow", s.Slow, s.Slow != def.Slow},
		{"input", s.Input, s.Input != def.Input},
		{"writers", s.Writers, len(s.Writers) > 0},
	} {
		if o.notEmpty {
			m.set(o.key, o.v, "")
		}
	}
	return m
}
