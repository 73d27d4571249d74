package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/connect"
	wstls "github.com/wsbridge/wsbridge/tls"
	"golang.org/x/net/http/httpproxy"
)

// connectEnv names a connect flag's environment variable:
// --bearer-token is WSBRIDGE_CONNECT_BEARER_TOKEN (apart from the server's).
func connectEnv(name string) []string { return env("connect-" + name) }

// connect's flag categories, in the order --help lists them.
const (
	connCatLocal     = "The local side"
	connCatEOF       = "The end of stdin"
	connCatServer    = "Reaching the server"
	connCatHandshake = "The handshake"
	connCatTLS       = "TLS (wss://)"
	connCatLog       = "Logs"
)

func connectCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Category: connCatLocal, Name: "listen", Usage: "accept connections on `[HOST:]PORT` (host: 127.0.0.1 unless given) or unix:PATH, each over its own WebSocket", EnvVars: connectEnv("listen")},
		&cli.IntFlag{Category: connCatLocal, Name: "max-tunnels", Value: 64, Usage: "with --listen, at most `N` tunnels at once; more are closed at once and logged", EnvVars: connectEnv("max-tunnels")},
		&cli.BoolFlag{Category: connCatLocal, Name: "text", Usage: "line mode for people: each line of stdin a text message, each message a line", EnvVars: connectEnv("text")},
		&cli.BoolFlag{Category: connCatLocal, Name: "tty", Usage: "attach this terminal to a wsbridge --pty endpoint (the browser terminal's protocol): keys go raw, the window's size follows", EnvVars: connectEnv("tty")},

		&cli.StringFlag{Category: connCatEOF, Name: "eof-wait", Value: "2s", Usage: "how long a server that does not take close 4500 as a half-close (any but wsbridge) has to answer and close before connect closes (`DURATION`; 0: at once)", EnvVars: connectEnv("eof-wait")},
		&cli.BoolFlag{Category: connCatEOF, Name: "no-close", Aliases: []string{"n"}, Usage: "never close at the end of stdin: wait for the server to close", EnvVars: connectEnv("no-close")},

		&cli.StringFlag{Category: connCatServer, Name: "unix", Usage: "reach the server through the unix socket at `PATH` (as ws+unix:///PATH does)", EnvVars: connectEnv("unix")},
		&cli.StringFlag{Category: connCatServer, Name: "proxy", Usage: "reach the server through the proxy at `URL`: http://[USER:PASSWORD@]HOST:PORT (CONNECT), https://, socks5:// or socks5h:// (the proxy resolves the name)", EnvVars: connectEnv("proxy")},
		&cli.StringFlag{Category: connCatServer, Name: "dial-timeout", Value: "10s", Usage: "`DURATION` for connecting, proxy, TLS and the handshake together", EnvVars: connectEnv("dial-timeout")},
		&cli.BoolFlag{Category: connCatServer, Name: "reconnect", Usage: "try a failed dial again, waiting longer each time (with --listen: each tunnel's); without --listen also dial again when the connection is lost before stdin ends (with --tty: only to a lasting terminal, which it reattaches)", EnvVars: connectEnv("reconnect")},
		&cli.IntFlag{Category: connCatServer, Name: "reconnect-max", Usage: "with --reconnect, give up after `N` retries in a row (default: never)", EnvVars: connectEnv("reconnect-max")},
		&cli.StringFlag{Category: connCatServer, Name: "ping", Usage: "ping the server every `DURATION` and fail (74) when it stops answering (default: no pings)", EnvVars: connectEnv("ping")},
		&cli.StringFlag{Category: connCatServer, Name: "ping-timeout", Usage: "with --ping, how long an answer may take (`DURATION`, default: the --ping interval)", EnvVars: connectEnv("ping-timeout")},

		&cli.StringSliceFlag{Category: connCatHandshake, Name: "header", Aliases: []string{"H"}, Usage: "send `\"NAME: VALUE\"` with the handshake, repeatable", EnvVars: connectEnv("header")},
		&cli.StringFlag{Category: connCatHandshake, Name: "basic-auth", Usage: "send HTTP Basic `USER:PASSWORD`", EnvVars: connectEnv("basic-auth")},
		&cli.StringFlag{Category: connCatHandshake, Name: "bearer-token", Usage: "send `TOKEN` as \"Authorization: Bearer\" (visible to other users in ps: prefer the file or the variable)", EnvVars: connectEnv("bearer-token")},
		&cli.StringFlag{Category: connCatHandshake, Name: "bearer-token-file", Usage: "send the bearer token in `FILE` (one line)", EnvVars: connectEnv("bearer-token-file")},
		&cli.StringFlag{Category: connCatHandshake, Name: "origin", Usage: "send Origin: `ORIGIN` (such as https://example.com), for servers that check it", EnvVars: connectEnv("origin")},
		&cli.BoolFlag{Category: connCatHandshake, Name: "compression", Usage: "offer permessage-deflate (RFC 7692): a server that takes it (wsbridge with --compression on, or --pty's default) deflates each message", EnvVars: connectEnv("compression")},
		&cli.StringSliceFlag{Category: connCatHandshake, Name: "subprotocol", Usage: "offer WebSocket subprotocol `NAME`, repeatable", EnvVars: connectEnv("subprotocol")},

		&cli.StringFlag{Category: connCatTLS, Name: "ca", Usage: "verify the server's certificate against the CAs in `FILE` (PEM) instead of the system's", EnvVars: connectEnv("ca")},
		&cli.BoolFlag{Category: connCatTLS, Name: "insecure", Usage: "do NOT verify the server's certificate (anyone on the way can read and change the session)", EnvVars: connectEnv("insecure")},
		&cli.StringFlag{Category: connCatTLS, Name: "servername", Usage: "`NAME` to send in SNI and to verify the certificate against (default: the URL's host)", EnvVars: connectEnv("servername")},
		&cli.StringFlag{Category: connCatTLS, Name: "cert", Usage: "client certificate `FILE` (PEM), with --key", EnvVars: connectEnv("cert")},
		&cli.StringFlag{Category: connCatTLS, Name: "key", Usage: "the client certificate's key `FILE` (PEM)", EnvVars: connectEnv("key")},

		&cli.StringFlag{Category: connCatLog, Name: "loglevel", Value: "access", Usage: "`LEVEL` of the log lines on stderr: debug, access (a line per tunnel or session), error (default: access with --listen, error without)", EnvVars: connectEnv("loglevel")},
		&cli.StringFlag{Category: connCatLog, Name: "logformat", Value: "text", Usage: "`FORMAT` of the log lines: text or json", EnvVars: connectEnv("logformat")},
	}
	return &cli.Command{
		Name:      "connect",
		Usage:     "the client: a WebSocket on stdin and stdout, or on each local connection",
		UsageText: "wsbridge connect [flags] URL\nwsbridge connect --listen [HOST:]PORT|unix:PATH [flags] URL",
		Description: "Bytes from stdin go to the server in binary messages and messages received go to stdout,\n" +
			"so ssh can use it as its ProxyCommand. At the end of stdin a wsbridge server gets a close\n" +
			"frame (4500, end of input) and its reply still arrives; other servers get --eof-wait to\n" +
			"answer and close first. --text is a line mode for people; --tty attaches this terminal to\n" +
			"a wsbridge --pty endpoint. The exit status is the remote program's (exec bridge, --pty),\n" +
			"0 after a normal close, or one of these (README):\n" +
			"  2 bad flag or argument, 68 the bridge's backend failed (502, 504, 1014), 69 unreachable\n" +
			"  or timed out, 74 session lost (no close frame, no answer to pings), 75 busy (429, 503),\n" +
			"  76 not accepted as a WebSocket (404, headers over 64 KiB, ...), 77 credentials refused\n" +
			"  (401, 403, 407, SOCKS), 78 TLS failed.\n" +
			"URL is ws:// or wss:// (http:// and https:// mean the same), or ws+unix:///PATH[:/PATH]\n" +
			"for a unix socket. Flags go before the URL. Unless --proxy is given, HTTPS_PROXY and\n" +
			"HTTP_PROXY, then ALL_PROXY, and NO_PROXY choose the proxy.",
		Flags: flags,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error()+" (see wsbridge connect --help)", exitUsage)
		},
		Action: runConnect,
	}
}

func runConnect(c *cli.Context) error {
	o, listen, err := buildConnect(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if s, ok := (<-sigs).(syscall.Signal); ok {
			cancel(&connect.Error{Code: 128 + int(s), Msg: s.String()})
		}
	}()

	if listen != "" {
		ln, err := connectListen(listen)
		if err != nil {
			return cli.Exit("connect: "+err.Error(), exitRuntime)
		}
		defer ln.Close() // a unix socket's file goes with it
		o.Log.Info("listening", "address", ln.Addr().String(), "server", connect.Shown(o.URL))
		l := &connect.Listener{Options: o, Max: c.Int("max-tunnels"), Log: o.Log}
		if err := l.Serve(ctx, ln); err != nil {
			return cli.Exit("connect: "+err.Error(), exitRuntime)
		}
		return nil
	}
	err = o.Stdio(ctx, os.Stdin, os.Stdout)
	var e *connect.Error
	if errors.As(err, &e) {
		if e.Msg != "" {
			e.Msg = "connect: " + e.Msg
		}
		return cli.Exit(e.Msg, e.Code)
	}
	return err
}

// buildConnect validates the flags and the URL into connect.Options.
// The listen address is empty without --listen.
func buildConnect(c *cli.Context) (o *connect.Options, listen string, err error) {
	switch c.NArg() {
	case 0:
		return nil, "", usageError("connect: missing URL (ws://HOST:PORT/PATH or wss://...)")
	case 1:
	default:
		return nil, "", usageError("connect: one URL, got %q (flags go before the URL)", c.Args().Slice())
	}
	u, err := parseWSURL(c.Args().First())
	if err != nil {
		return nil, "", usageError("connect: %v", err)
	}
	o = &connect.Options{URL: u, Header: http.Header{}, Subprotocols: splitLists(c.StringSlice("subprotocol")), Text: c.Bool("text"), TTY: c.Bool("tty"), Compression: c.Bool("compression")}
	switch {
	case o.Text && o.TTY:
		return nil, "", usageError("--text and --tty are two ways for people: choose one")
	case (o.Text || o.TTY) && c.String("listen") != "":
		return nil, "", usageError("--text and --tty are for people at a terminal; they mean nothing with --listen")
	}
	level := c.String("loglevel")
	if l := c.String("listen"); l != "" {
		if listen, err = listenAddr(l); err != nil {
			return nil, "", usageError("--listen: %v", err)
		}
		if max := c.Int("max-tunnels"); max < 1 {
			return nil, "", usageError("--max-tunnels: must be at least 1, got %d", max)
		}
	} else {
		if c.IsSet("max-tunnels") {
			return nil, "", usageError("--max-tunnels needs --listen")
		}
		// stdin and stdout serve ssh and pipelines: quiet unless asked.
		if !c.IsSet("loglevel") {
			level = "error"
		}
	}
	if o.Log, err = newLogger(level, c.String("logformat")); err != nil {
		return nil, "", err
	}
	if err := connectUnix(c, o); err != nil {
		return nil, "", err
	}
	o.Reconnect, o.ReconnectMax = c.Bool("reconnect"), c.Int("reconnect-max")
	switch {
	case c.IsSet("reconnect-max") && !o.Reconnect:
		return nil, "", usageError("--reconnect-max needs --reconnect")
	case o.ReconnectMax < 0:
		return nil, "", usageError("--reconnect-max: must be 0 (no limit) or more, got %d", o.ReconnectMax)
	}
	for _, v := range c.StringSlice("header") {
		if err := bridge.ParseHeader(o.Header, v); err != nil {
			return nil, "", usageError("--header: %v", err)
		}
	}
	for _, name := range []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"} {
		if o.Header.Get(name) != "" {
			return nil, "", usageError("--header: %s is the handshake's own; it can't be set", name)
		}
	}
	if err := connectAuth(c, o.Header, u); err != nil {
		return nil, "", err
	}
	if v := c.String("origin"); v != "" {
		o.Header.Set("Origin", v)
	}
	if o.TLS, err = connectTLS(c, u); err != nil {
		return nil, "", err
	}
	if o.DialTimeout, err = parseDuration("dial-timeout", c.String("dial-timeout"), maxDial); err != nil {
		return nil, "", err
	}
	if o.Ping, err = parseDuration("ping", c.String("ping"), maxPing); err != nil {
		return nil, "", err
	}
	if o.PingTimeout, err = parseDuration("ping-timeout", c.String("ping-timeout"), maxPing); err != nil {
		return nil, "", err
	}
	if o.EOFWait, err = parseDuration("eof-wait", c.String("eof-wait"), maxPing); err != nil {
		return nil, "", err
	}
	if o.NoClose = c.Bool("no-close"); o.NoClose && c.IsSet("eof-wait") {
		return nil, "", usageError("--no-close waits for the server however long: --eof-wait means nothing with it")
	}
	switch {
	case o.Ping == 0 && c.IsSet("ping-timeout"):
		return nil, "", usageError("--ping-timeout needs --ping")
	case o.PingTimeout == 0:
		o.PingTimeout = o.Ping
	}
	if o.Proxy, err = connectProxy(c.String("proxy"), c.IsSet("proxy")); err != nil {
		return nil, "", err
	}
	return o, listen, nil
}

// parseWSURL accepts ws:// and wss:// URLs, and http:// and https:// as the
// same. ws+unix:///PATH[:/REQUEST-PATH] (wss+unix too, as Node's ws writes
// it) is ws://localhost/REQUEST-PATH over the unix socket at PATH, which
// goes to u.Opaque for connectUnix.
func parseWSURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	case "ws+unix", "wss+unix":
		sock, path, _ := strings.Cut(cmp.Or(u.Opaque, u.Path), ":")
		if sock == "" || u.Host != "" {
			return nil, fmt.Errorf("%q: want ws+unix:///PATH or ws+unix:///PATH:/REQUEST-PATH", s)
		}
		return &url.URL{Scheme: strings.TrimSuffix(u.Scheme, "+unix"), Host: "localhost", Path: cmp.Or(path, "/"), RawQuery: u.RawQuery, Opaque: sock}, nil
	default:
		return nil, fmt.Errorf("%q: want a ws:// or wss:// URL", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// connectUnix takes the unix socket to dial from --unix or a ws+unix:// URL
// (parseWSURL left its path in Opaque).
func connectUnix(c *cli.Context, o *connect.Options) error {
	o.Unix, o.URL.Opaque = o.URL.Opaque, ""
	if v := c.String("unix"); v != "" {
		if o.Unix != "" {
			return usageError("--unix and a ws+unix:// URL: give the socket once")
		}
		o.Unix = v
	}
	if o.Unix != "" && c.String("proxy") != "" {
		return usageError("--proxy: a unix socket is reached directly")
	}
	return nil
}

// connectListen listens at "unix:PATH" or a TCP address. Like the server's
// --unixsocket it removes a stale socket file but not one that a process
// still answers on, nor anything else.
func connectListen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("--listen unix:%s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("--listen unix:%s: something is listening there", path)
		}
		os.Remove(path)
	}
	return net.Listen("unix", path) // closing it removes the file
}

// listenAddr reads "unix:PATH", or "PORT", ":PORT" or "HOST:PORT"; the host
// is loopback unless given, like ssh -L. Port 0 picks a free one (the log
// line says which).
func listenAddr(s string) (string, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return "", fmt.Errorf("%q: want unix:PATH", s)
		}
		return s, nil
	}
	if !strings.Contains(s, ":") {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("%q is not [HOST:]PORT", s)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// connectAuth adds the one Authorization header the flags ask for.
// Credentials in the URL become Basic credentials (gorilla/websocket refuses
// such URLs), so u loses them.
func connectAuth(c *cli.Context, h http.Header, u *url.URL) error {
	var given []string
	for _, name := range []string{"basic-auth", "bearer-token", "bearer-token-file"} {
		if c.String(name) != "" {
			given = append(given, "--"+name)
		}
	}
	if h.Get("Authorization") != "" {
		given = append(given, "--header Authorization")
	}
	if u.User != nil {
		given = append(given, "the URL's USER:PASSWORD@")
	}
	if len(given) > 1 {
		return usageError("%s: give one way to send credentials", strings.Join(given, " and "))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		(&http.Request{Header: h}).SetBasicAuth(u.User.Username(), pass)
		u.User = nil
	}
	if v := c.String("basic-auth"); v != "" {
		user, pass, ok := strings.Cut(v, ":")
		if !ok || user == "" {
			return usageError("--basic-auth: want USER:PASSWORD")
		}
		(&http.Request{Header: h}).SetBasicAuth(user, pass)
	}
	token := c.String("bearer-token")
	if f := c.String("bearer-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return usageError("--bearer-token-file: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if token = strings.TrimSpace(lines[0]); token == "" || len(lines) > 1 {
			return usageError("--bearer-token-file %s: want the token alone on one line", f)
		}
	}
	if token != "" {
		if strings.ContainsAny(token, " \t\r\n") {
			return usageError("--bearer-token: a token has no spaces or line breaks")
		}
		h.Set("Authorization", "Bearer "+token)
	}
	return nil
}

// connectTLS builds the client's TLS settings for a wss:// URL.
func connectTLS(c *cli.Context, u *url.URL) (*tls.Config, error) {
	names := []string{"ca", "insecure", "servername", "cert", "key"}
	if u.Scheme != "wss" {
		for _, name := range names {
			if c.IsSet(name) {
				return nil, usageError("--%s needs a wss:// URL", name)
			}
		}
		return nil, nil
	}
	if c.Bool("insecure") && (c.IsSet("ca") || c.IsSet("servername")) {
		return nil, usageError("--insecure contradicts --ca and --servername: it verifies nothing")
	}
	client := wstls.Client{
		CA: c.String("ca"), ServerName: c.String("servername"), Cert: c.String("cert"), Key: c.String("key"),
		Insecure: c.Bool("insecure"),
	}
	cfg, err := client.Config()
	var fe *wstls.FileError
	switch {
	case errors.Is(err, wstls.ErrHalfPair):
		return nil, usageError("--cert and --key come together")
	case errors.As(err, &fe) && fe.Role == wstls.RoleCA:
		return nil, usageError("--ca %v", fe)
	case errors.As(err, &fe):
		return nil, usageError("--cert %s, --key %s: %v", fe.Files[0], fe.Files[1], fe.Err)
	case err != nil:
		return nil, usageError("%v", err)
	}
	if client.Insecure {
		fmt.Fprintln(os.Stderr, "wsbridge: connect: WARNING: --insecure: the server's certificate is not verified; anyone between here and there can read and change this session")
	}
	return cfg, nil
}

// connectProxy picks the proxy (HTTP CONNECT or SOCKS5): --proxy for every
// URL, or the one HTTPS_PROXY / HTTP_PROXY, then ALL_PROXY, choose, unless
// NO_PROXY says otherwise (never for loopback hosts), as curl reads them.
func connectProxy(v string, set bool) (func(*url.URL) (*url.URL, error), error) {
	if !set {
		cfg := httpproxy.FromEnvironment()
		all := cmp.Or(os.Getenv("ALL_PROXY"), os.Getenv("all_proxy"))
		cfg.HTTPProxy, cfg.HTTPSProxy = cmp.Or(cfg.HTTPProxy, all), cmp.Or(cfg.HTTPSProxy, all)
		proxyFor := cfg.ProxyFunc()
		return func(u *url.URL) (*url.URL, error) {
			hu := *u
			hu.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
			return proxyFor(&hu)
		}, nil
	}
	if v == "" {
		return nil, nil
	}
	p, err := url.Parse(v)
	if err != nil || !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, p.Scheme) || p.Host == "" {
		return nil, usageError("--proxy: want http://[USER:PASSWORD@]HOST:PORT or socks5://, socks5h://, got %q", v)
	}
	return func(*url.URL) (*url.URL, error) { return p, nil }, nil
}
