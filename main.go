// Command wsbridge puts any program, terminal or TCP service on a WebSocket:
// every accepted connection starts its own process (stdout lines become
// messages and messages become stdin lines), runs it on its own terminal for
// the browser page (--pty), or dials its own TCP or unix-socket connection.
// Its flags are websocketd's, so existing command lines work, and every
// websockify setup has an equivalent (see README).
//
// This file owns the command line only: flags, environment variables,
// signals and exit codes. The flags become a config.File
// (flags_config.go), validated and built as a --config file is.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/admin"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/internal/size"
	"github.com/wsbridge/wsbridge/metrics"
	"github.com/wsbridge/wsbridge/process"
	"github.com/wsbridge/wsbridge/web"
)

//go:embed LICENSE
var license string

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // could not listen, or failed while serving
	exitUsage   = 2 // a bad flag, value or argument
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	if err := app.Run(args); err != nil {
		code := exitRuntime
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		if msg := err.Error(); msg != "" { // connect passes a remote exit status on quietly
			fmt.Fprintln(os.Stderr, "wsbridge: "+msg)
		}
		return code
	}
	return exitOK
}

// env names a flag's environment variable: --header-ws is WSBRIDGE_HEADER_WS.
func env(name string) []string {
	return []string{"WSBRIDGE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, "wsbridge", versionString()) }
	return &cli.App{
		Name:      "wsbridge",
		Usage:     "put any program, terminal or TCP service on a WebSocket",
		UsageText: "wsbridge [flags] [--] COMMAND [ARG...]\nwsbridge [flags] --dir DIR\nwsbridge [flags] --pty [--] COMMAND [ARG...]\nwsbridge [flags] --tcp HOST:PORT | --unix PATH | --token-file FILE|DIR\nwsbridge --config FILE   (many routes on one port: see the README's Config file)\nwsbridge print-config [flags] [COMMAND...]   (the config file of a command line)\nwsbridge connect [flags] URL   (the client: see wsbridge connect --help)",
		Description: "Every accepted WebSocket starts its own COMMAND. Each line the program writes to stdout\n" +
			"becomes a text message; each message received becomes a line on its stdin. When the\n" +
			"program exits the client gets a close frame that carries its exit status (see README).\n" +
			"With --pty, each WebSocket runs COMMAND on its own terminal, and the URL serves a terminal\n" +
			"page (xterm.js) for browsers; the protocol is in docs/terminal-protocol.md.\n" +
			"With --tcp, --unix or --token-file, each WebSocket gets its own connection to that\n" +
			"backend instead, dialed before the upgrade is answered; bytes go both ways in binary messages.\n" +
			"Under systemd's socket activation (LISTEN_FDS) it serves the sockets it is passed instead of\n" +
			"--port, --address and --unixsocket, and it tells systemd when it is ready and when it stops\n" +
			"(Type=notify); see the README's systemd section and examples/wsbridge.socket.\n" +
			"Every flag can also be set by an environment variable, shown beside it.",
		Version:                   versionString(),
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true, // header values may hold commas
		Flags:                     flags(),
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error()+" (see --help)", exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
		Action:         serve,
		Commands:       []*cli.Command{connectCommand(), checkConfigCommand(), printConfigCommand(), completionCommand(), manCommand()},
		// For the completion scripts: wsbridge ARGS... --generate-bash-completion
		// prints the flags or commands that may come next.
		EnableBashCompletion: true,
	}
}

// The server's flag categories, in the order --help lists them: a category
// comes where its first flag is declared.
const (
	catConfig   = "Config file"
	catListen   = "Listening"
	catTLS      = "TLS"
	catBackend  = "Backends (what to run)"
	catTerminal = "Terminal (--pty)"
	catAccess   = "Access (origins, hosts, auth)"
	catLimits   = "Limits and liveness"
	catHTTP     = "HTTP side"
	catLog      = "Logging and operations"
)

// flags are the server's flags. Each is read in one place, fileFromFlags
// (flags_config.go), into its config key, and keyFlags names it back when
// File.Validate refuses the key; a flag a file cannot say yet goes into
// flagExtras (and print-config refuses it).
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Category: catConfig, Name: "config", Usage: "serve the listener and routes in YAML `FILE` (see README), reloaded on SIGHUP; no other server flag but --loglevel and --logformat", EnvVars: env("config")},

		&cli.IntFlag{Category: catListen, Name: "port", Value: 8080, Usage: "TCP `PORT` to listen on (0 picks a free one)", EnvVars: env("port")},
		&cli.StringSliceFlag{Category: catListen, Name: "address", Usage: "`ADDRESS` to listen on, repeatable (default: loopback only, 127.0.0.1 and ::1)", EnvVars: env("address")},
		&cli.StringFlag{Category: catListen, Name: "unixsocket", Usage: "listen on a unix socket at `PATH` instead of TCP", EnvVars: env("unixsocket")},
		&cli.IntFlag{Category: catListen, Name: "redirport", Usage: "also listen on `PORT` and redirect plain HTTP there to the main port", EnvVars: env("redirport")},

		&cli.BoolFlag{Category: catTLS, Name: "ssl", Usage: "serve TLS (wss://) with --sslcert and --sslkey", EnvVars: env("ssl")},
		&cli.StringSliceFlag{Category: catTLS, Name: "sslcert", Aliases: []string{"tls-cert"}, Usage: "certificate chain `FILE` (PEM), re-read when it changes; repeatable with --sslkey, for more names (chosen by SNI)", EnvVars: env("sslcert")},
		&cli.StringSliceFlag{Category: catTLS, Name: "sslkey", Aliases: []string{"tls-key"}, Usage: "private key `FILE` (PEM) of the --sslcert in the same place; repeatable", EnvVars: env("sslkey")},
		&cli.StringFlag{Category: catTLS, Name: "sslca", Usage: "require client certificates signed by the CAs in `FILE` (PEM)", EnvVars: env("sslca")},
		&cli.StringSliceFlag{Category: catTLS, Name: "client-cn", Usage: "with --sslca, accept only client certificates with this common `NAME`, repeatable", EnvVars: env("client-cn")},
		&cli.StringSliceFlag{Category: catTLS, Name: "acme-domain", Usage: "get a certificate for `NAME` from an ACME CA (Let's Encrypt), repeatable; turns on TLS. The CA must reach port 443 (TLS-ALPN-01) or --redirport 80 (HTTP-01)", EnvVars: env("acme-domain")},
		&cli.StringFlag{Category: catTLS, Name: "acme-cache", Usage: "`DIR` that keeps the ACME account and certificates (default: the user's cache dir/wsbridge/acme)", EnvVars: env("acme-cache")},
		&cli.StringFlag{Category: catTLS, Name: "acme-email", Usage: "contact `ADDRESS` for the ACME account (expiry notices)", EnvVars: env("acme-email")},
		&cli.StringFlag{Category: catTLS, Name: "acme-directory", Value: letsEncrypt, Usage: "the ACME CA's directory `URL`", EnvVars: env("acme-directory")},

		&cli.StringFlag{Category: catBackend, Name: "dir", Usage: "serve every executable in `DIR`, chosen by URL path, instead of one COMMAND", EnvVars: env("dir")},
		&cli.StringFlag{Category: catBackend, Name: "framing", Value: "line", Usage: "`MODE`: line (a message per line), raw (text as it comes, nothing appended to input) or binary (the default with a TCP backend)", EnvVars: env("framing")},
		&cli.BoolFlag{Category: catBackend, Name: "binary", Usage: "same as --framing binary (websocketd's name)", EnvVars: env("binary")},
		&cli.StringFlag{Category: catBackend, Name: "passenv", Value: "PATH,LD_LIBRARY_PATH", Usage: "comma-separated `NAMES` of variables passed from wsbridge's environment to programs; with --pty they win over a login's HOME, USER, LOGNAME, SHELL, LANG, LC_*, TERM", EnvVars: env("passenv")},
		&cli.StringFlag{Category: catBackend, Name: "stderr", Value: "log", Usage: "what becomes of programs' stderr, `MODE`: log (logged a line at a time), pass (to wsbridge's stderr as it is) or json (to the client with stdout, every line of both a JSON message {\"stream\":\"stdout\"|\"stderr\",\"data\":\"...\"}, as websocketd 0.5's --passstderr)", EnvVars: env("stderr")},
		&cli.BoolFlag{Category: catBackend, Name: "passstderr", Usage: "same as --stderr pass (websocketd 0.4's --passstderr; 0.5's is --stderr json)", EnvVars: env("passstderr")},
		&cli.BoolFlag{Category: catBackend, Name: "unbuffer", Usage: "give COMMAND a pseudo-terminal for its stdout (raw: no CRLF, no echo), so that C stdio, Python and others send each line at once instead of at exit; stdin stays a pipe, stderr apart", EnvVars: env("unbuffer")},
		&cli.BoolFlag{Category: catBackend, Name: "reverselookup", Usage: "resolve REMOTE_HOST by reverse DNS", EnvVars: env("reverselookup")},
		&cli.BoolFlag{Category: catBackend, Name: "url-args", Usage: "append the request's ?arg= values to COMMAND's arguments (off: clients choose nothing)", EnvVars: env("url-args")},
		&cli.BoolFlag{Category: catBackend, Name: "shared", Usage: "run one COMMAND for every client (broadcast): its output goes to all, their messages to its stdin; see --shared-options", EnvVars: env("shared")},
		&cli.StringFlag{Category: catBackend, Name: "shared-options", Usage: "--shared, with `KEY=VALUE,...`: start=first|always, linger=DURATION, restart=never|on-failure|always, replay=MESSAGES, queue=SIZE (each client's, default 256KiB), slow=drop|skip|wait (a client whose queue is full), input=all|none, writers=USER:USER... (only their messages reach it)", EnvVars: env("shared-options")},
		&cli.StringFlag{Category: catBackend, Name: "tcp", Usage: "connect each WebSocket to `HOST:PORT` instead of starting a program", EnvVars: env("tcp")},
		&cli.StringFlag{Category: catBackend, Name: "unix", Usage: "connect each WebSocket to the unix socket at `PATH`", EnvVars: env("unix")},
		&cli.StringFlag{Category: catBackend, Name: "token-file", Usage: "connect to the target the request's ?token= names, from `FILE` or a folder of websockify token files (\"token: host:port\" or \"token: unix_socket:/path\"), re-read when they change", EnvVars: env("token-file")},
		&cli.StringFlag{Category: catBackend, Name: "token-redis", Usage: "connect to the target the request's ?token= names, from Redis at `SOURCE` (websockify's TokenRedis: host[:port[:db[:password[:namespace]]]], or redis://[:password@]host[:port][/db][?namespace=NS]); each key holds \"host:port\" or {\"host\": \"host:port\"}", EnvVars: env("token-redis")},
		&cli.BoolFlag{Category: catBackend, Name: "host-token", Usage: "take the token from the Host header's name (in any case) instead of ?token=", EnvVars: env("host-token")},
		&cli.StringFlag{Category: catBackend, Name: "dial-timeout", Value: "10s", Usage: "`DURATION` a backend may take to accept (and finish TLS); longer is HTTP 504", EnvVars: env("dial-timeout")},
		&cli.BoolFlag{Category: catBackend, Name: "tcp-tls", Usage: "speak TLS to the backend, verifying its certificate", EnvVars: env("tcp-tls")},
		&cli.StringFlag{Category: catBackend, Name: "tcp-ca", Usage: "verify the backend's certificate against the CAs in `FILE` (PEM) instead of the system's", EnvVars: env("tcp-ca")},
		&cli.StringFlag{Category: catBackend, Name: "tcp-servername", Usage: "`NAME` the backend's certificate must carry (default: the target's host)", EnvVars: env("tcp-servername")},
		&cli.StringFlag{Category: catBackend, Name: "proxy-protocol", Usage: "send the backend a PROXY protocol header, `VERSION` v1 or v2, so it learns the client's address", EnvVars: env("proxy-protocol")},

		&cli.BoolFlag{Category: catTerminal, Name: "pty", Usage: "run COMMAND on a pseudo-terminal per WebSocket and serve a terminal page (xterm.js) at the URL", EnvVars: env("pty")},
		&cli.StringFlag{Category: catTerminal, Name: "title", Usage: "the page's `TITLE` (default: what the program sets)", EnvVars: env("title")},
		&cli.StringSliceFlag{Category: catTerminal, Name: "term-option", Usage: "an xterm.js option `NAME=VALUE`, repeatable: fontSize=16, fontFamily=..., cursorStyle=bar, scrollback=10000, theme={\"background\":\"#202020\"}; and the page's disableLeaveAlert=true (no \"leave this page?\" while a session is live), enableZmodem=false and enableTrzsz=false (no rz/sz, trz/tsz file transfer) and clipboardWrite=true (programs may write the clipboard with OSC 52; never read it)", EnvVars: env("term-option")},
		&cli.StringFlag{Category: catTerminal, Name: "url-term-options", Value: web.DefaultURLOptions, Usage: "the xterm.js options the page's URL may set over --term-option (?fontSize=20&theme={...}): comma-separated `NAMES`; empty: none. Never windowOptions, ignoreBracketedPasteMode, logLevel, clipboardWrite", EnvVars: env("url-term-options")},
		&cli.StringFlag{Category: catTerminal, Name: "index", Usage: "serve this HTML `FILE` as the page instead of the built-in one (it loads terminal.js and terminal.css)", EnvVars: env("index")},
		&cli.BoolFlag{Category: catTerminal, Name: "readonly", Usage: "ignore what clients type (sizes still apply)", EnvVars: env("readonly")},
		&cli.StringFlag{Category: catTerminal, Name: "record", Usage: "record every session into `DIR` as an asciicast v2 file (asciinema play FILE)", EnvVars: env("record")},
		&cli.StringFlag{Category: catTerminal, Name: "linger", Usage: "keep each terminal's program running `DURATION` (\"10m\") after its page went away: the page that comes back gets its screen and program back, and others may watch it read-only (see README)", EnvVars: env("linger")},
		&cli.StringFlag{Category: catTerminal, Name: "scrollback", Value: "1MiB", Usage: "with --linger, the output each terminal keeps (`SIZE`) for pages that come back or watch", EnvVars: env("scrollback")},
		&cli.StringFlag{Category: catTerminal, Name: "writers", Value: "all", Usage: "with --linger, who types into a terminal of those with its id: `all`, or one (the page that attached last)", EnvVars: env("writers")},
		&cli.StringFlag{Category: catTerminal, Name: "record-max", Value: "1GiB", Usage: "with --record, stop each recording at `SIZE` (\"50MB\", \"1GiB\", bytes; 0: no limit) with a last line saying so; the session goes on", EnvVars: env("record-max")},

		&cli.StringSliceFlag{Category: catAccess, Name: "origin", Usage: "browser origins allowed to connect: `LIST` of host[:port] or scheme://host[:port], or '*' for any; repeatable (default: same origin only)", EnvVars: env("origin")},
		&cli.BoolFlag{Category: catAccess, Name: "sameorigin", Usage: "allow only pages from the same host and port (the default; kept for websocketd command lines)", EnvVars: env("sameorigin")},
		&cli.StringSliceFlag{Category: catAccess, Name: "allowed-host", Usage: "answer requests for host `NAME` (or *.DOMAIN), repeatable, besides localhost, IP addresses and the certificates' names; others get 421, against DNS rebinding. '*': any (not safe)", EnvVars: env("allowed-host")},
		&cli.StringSliceFlag{Category: catAccess, Name: "trusted-proxy", Usage: "believe X-Forwarded-For and X-Real-IP from proxies at `CIDR` (or an address, or unix: every peer of --unixsocket), repeatable; logs, REMOTE_ADDR and PROXY headers then show the client", EnvVars: env("trusted-proxy")},
		&cli.StringSliceFlag{Category: catAccess, Name: "basic-auth", Usage: "require HTTP Basic `USER:PASSWORD`, repeatable", EnvVars: env("basic-auth")},
		&cli.StringFlag{Category: catAccess, Name: "htpasswd", Usage: "require HTTP Basic credentials from an htpasswd `FILE` (bcrypt: htpasswd -B), re-read when it changes", EnvVars: env("htpasswd")},
		&cli.StringFlag{Category: catAccess, Name: "bearer-token-file", Usage: "accept the bearer tokens in `FILE`, one per line (\"TOKEN\" or \"USER TOKEN\"), re-read when it changes", EnvVars: env("bearer-token-file")},
		&cli.StringFlag{Category: catAccess, Name: "jwt-key", Usage: "accept JWTs signed with the key in `FILE`: an RSA or ECDSA public key (PEM) or an HS256 secret", EnvVars: env("jwt-key")},
		&cli.StringFlag{Category: catAccess, Name: "jwt-audience", Usage: "with --jwt-key, the `AUD` tokens must be for", EnvVars: env("jwt-audience")},
		&cli.StringFlag{Category: catAccess, Name: "auth-query", Value: "access_token", Usage: "query parameter `NAME` that may carry a bearer token or JWT (browsers can't set headers on a WebSocket); empty: none", EnvVars: env("auth-query")},
		&cli.StringFlag{Category: catAccess, Name: "auth-cookie", Usage: "cookie `NAME` that may carry a bearer token or JWT", EnvVars: env("auth-cookie")},
		&cli.IntFlag{Category: catAccess, Name: "auth-fail-limit", Value: 10, Usage: "after `N` wrong credentials in a minute from one client address (an IPv6 /64), answer it 429 unchecked for the rest of the minute (0: no limit)", EnvVars: env("auth-fail-limit")},
		&cli.StringFlag{Category: catAccess, Name: "auth-fail-delay", Value: "1s", Usage: "`DURATION` to wait before answering wrong credentials, to slow guessing", EnvVars: env("auth-fail-delay")},

		&cli.IntFlag{Category: catLimits, Name: "maxforks", Aliases: []string{"max-clients"}, Usage: "at most `N` sessions (and CGI runs) at once; more get 429 (0: no limit)", EnvVars: env("maxforks")},
		&cli.BoolFlag{Category: catLimits, Name: "once", Usage: "serve one session, then exit; later clients get 503", EnvVars: env("once")},
		&cli.BoolFlag{Category: catLimits, Name: "exit-no-conn", Usage: "exit when the last session ends", EnvVars: env("exit-no-conn")},
		&cli.IntFlag{Category: catLimits, Name: "maxframesize", Value: 1 << 20, Usage: "largest message in `BYTES`: longer output lines go out in pieces, longer incoming messages close with 1009 (0: the most, 1 GiB)", EnvVars: env("maxframesize")},
		&cli.IntFlag{Category: catLimits, Name: "pingms", Usage: "ping clients every `MS` and drop one that stays silent for two intervals (0: no pings)", EnvVars: env("pingms")},
		&cli.StringFlag{Category: catLimits, Name: "idle-timeout", Usage: "close a session after `DURATION` without data either way, with 1001 (\"90s\", \"5m\"; a bare number is seconds; default: never)", EnvVars: env("idle-timeout")},
		&cli.IntFlag{Category: catLimits, Name: "closems", Usage: "`MS` added to each wait after a client leaves: stdin EOF, then SIGINT after 100+MS ms, SIGTERM 250+MS ms later, SIGKILL 500+MS ms later (Windows: CTRL_BREAK after 100+MS ms, the whole Job Object ended 250+MS ms later); a TCP backend gets 1000+MS ms to finish its reply", EnvVars: env("closems")},
		&cli.StringFlag{Category: catLimits, Name: "drain-timeout", Usage: "on SIGTERM, drain for up to `DURATION` before shutting down: new requests get 503 (after --drain-delay), live sessions may end on their own, wsbridge exits when none is left; those left then get 1001. A second SIGTERM, or SIGINT, stops at once (default: SIGTERM stops at once)", EnvVars: env("drain-timeout")},
		&cli.StringFlag{Category: catLimits, Name: "drain-delay", Usage: "with --drain-timeout, go on serving new requests for `DURATION` of the drain, so that load balancers see the instance is not ready before it refuses them", EnvVars: env("drain-delay")},

		&cli.StringFlag{Category: catHTTP, Name: "compression", Value: "auto", Usage: "permessage-deflate (RFC 7692) with clients that offer it, `MODE`: auto (on with --pty, where text deflates well; off for bulk bytes), on or off", EnvVars: env("compression")},
		&cli.StringSliceFlag{Category: catHTTP, Name: "subprotocol", Usage: "WebSocket subprotocol `NAME` to accept when a client offers it, repeatable", EnvVars: env("subprotocol")},
		&cli.StringFlag{Category: catHTTP, Name: "staticdir", Usage: "serve static files from `DIR` to plain HTTP requests", EnvVars: env("staticdir")},
		&cli.StringFlag{Category: catHTTP, Name: "cgidir", Usage: "run CGI scripts from `DIR` for plain HTTP requests", EnvVars: env("cgidir")},
		&cli.BoolFlag{Category: catHTTP, Name: "devconsole", Usage: "serve a page to try the endpoint from a browser (not with --staticdir or --cgidir)", EnvVars: env("devconsole")},
		&cli.StringFlag{Category: catHTTP, Name: "base-path", Usage: "serve under `PATH` (such as /term/) where a reverse proxy passes the prefix on; other paths are 404", EnvVars: env("base-path")},
		&cli.StringSliceFlag{Category: catHTTP, Name: "header", Usage: "add `\"NAME: VALUE\"` to every response, repeatable", EnvVars: env("header")},
		&cli.StringSliceFlag{Category: catHTTP, Name: "header-ws", Usage: "add `\"NAME: VALUE\"` to WebSocket upgrade responses, repeatable", EnvVars: env("header-ws")},
		&cli.StringSliceFlag{Category: catHTTP, Name: "header-http", Usage: "add `\"NAME: VALUE\"` to plain HTTP responses, repeatable", EnvVars: env("header-http")},

		&cli.StringFlag{Category: catLog, Name: "loglevel", Value: "access", Usage: "`LEVEL`: debug, trace, access, info, error or fatal", EnvVars: env("loglevel")},
		&cli.StringFlag{Category: catLog, Name: "logformat", Value: "text", Usage: "`FORMAT` of log lines on stderr: text or json", EnvVars: env("logformat")},
		&cli.StringFlag{Category: catLog, Name: "admin-address", Usage: "serve Prometheus /metrics, /healthz and /readyz on `HOST:PORT`, apart from the WebSockets and without auth; a bare PORT listens on loopback only (default: off)", EnvVars: env("admin-address")},

		// --help and --version join it (help.go).
		&cli.BoolFlag{Category: infoCategory, Name: "license", Usage: "print the license and exit"},
	}
}

// maxMessageLimit is the largest --maxframesize, and what 0 means: a
// message is held whole in memory, so "no limit" still has one.
const maxMessageLimit = 1 << 30

// usageError is a bad flag or argument: one line, exit code 2.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

func serve(c *cli.Context) error {
	if c.Bool("license") {
		fmt.Fprint(c.App.Writer, license)
		return nil
	}
	sd, err := takeSystemd()
	if err != nil {
		return err
	}
	if c.String("config") != "" { // an empty WSBRIDGE_CONFIG names no file
		return serveConfig(c, sd)
	}
	log, err := newLogger(c.String("loglevel"), c.String("logformat"))
	if err != nil {
		return err
	}
	defer ignoreHangups(log)()
	srv, err := buildServerOn(c, log, sd.listeners())
	if err != nil {
		return err
	}
	adm, _, err := startServer(srv, c.String("admin-address"), log, sd, errorNames{
		admin:  func(err error) string { return "--admin-address: " + err.Error() },
		listen: func(err error) string { return listenError(srv, err) },
	})
	if err != nil {
		return err
	}
	log.Info("serving", "backend", fmt.Sprint(srv.Routes[0].Backend), "framing", srv.Routes[0].Framing.String())
	return runServer(srv, log, adm)
}

// errorNames say which flag or config key a start-up error is about.
type errorNames struct {
	admin  func(error) string // the admin listener's
	listen func(error) string // a listener's (a *bridge.ListenError)
}

// startServer binds srv's admin listener at adminAddress (if any), then
// its listeners, and has it tell systemd when it serves; the server flags
// and the config file share it. Then runServer serves.
func startServer(srv *bridge.Server, adminAddress string, log *slog.Logger, sd *fromSystemd, names errorNames) (*admin.Server, *metrics.Metrics, error) {
	adm, m, err := listenAdmin(srv, adminAddress, log)
	if err != nil {
		return nil, nil, cli.Exit(names.admin(err), exitRuntime)
	}
	sd.notify(srv, log)
	if err := srv.Listen(); err != nil {
		adm.Close()
		return nil, nil, cli.Exit(names.listen(err), exitRuntime)
	}
	return adm, m, nil
}

// listenAdmin binds the admin listener at address, if one is given, for
// srv's metrics, health and readiness: the server's observer becomes the
// access log and the metrics together. Without an address, nothing
// changes and nothing is counted (both results are nil).
func listenAdmin(srv *bridge.Server, address string, log *slog.Logger) (*admin.Server, *metrics.Metrics, error) {
	if address == "" {
		return nil, nil, nil
	}
	m := metrics.New()
	addRoutes(m, srv.Routes)
	a, err := admin.Listen(address, admin.Handler(m.Handler(), srv.Ready), log)
	if err != nil {
		return nil, nil, err
	}
	srv.Observer = bridge.Observers{bridge.AccessLog(log), m}
	return a, m, nil
}

// addRoutes gives routes their series at 0 in m (if metrics are on), at
// start and for the routes a reload adds.
func addRoutes(m *metrics.Metrics, routes []*bridge.Route) {
	if m == nil {
		return
	}
	for _, r := range routes {
		m.AddRoute(r.DisplayName(), bridge.BackendKind(r.Backend))
	}
}

// listenError names the flag a listen error of srv comes from: the path of
// --unixsocket, or --redirport (--port's error names its port).
func listenError(srv *bridge.Server, err error) string {
	var le *bridge.ListenError
	switch {
	case !errors.As(err, &le):
		return err.Error()
	case le.Redirect:
		return fmt.Sprintf("%s (--redirport): %v", le.Where, le.Err)
	case srv.Listeners[le.Listener].Unix != "":
		return "--unixsocket " + le.Error()
	}
	return le.Error()
}

// drainFlags reads --drain-timeout and --drain-delay.
func drainFlags(c *cli.Context) (timeout, delay time.Duration, err error) {
	if timeout, err = parseDuration("drain-timeout", c.String("drain-timeout"), maxDrain); err != nil {
		return 0, 0, err
	}
	if delay, err = parseDuration("drain-delay", c.String("drain-delay"), maxDrain); err != nil {
		return 0, 0, err
	}
	switch {
	case delay > 0 && timeout == 0:
		return 0, 0, usageError("--drain-delay needs --drain-timeout (without it, SIGTERM stops at once)")
	case delay > timeout:
		return 0, 0, usageError("--drain-delay %s is longer than --drain-timeout %s: the drain would end before it refuses anything", shortDuration(delay), shortDuration(timeout))
	}
	return timeout, delay, nil
}

// runServer serves srv, which listens, until SIGINT or SIGTERM (or --once,
// --exit-no-conn), and adm (if any) from before srv serves until after it
// stopped, for /readyz to say so. With a DrainTimeout, the first SIGTERM
// drains srv instead, and SIGINT or another SIGTERM stops it at once.
func runServer(srv *bridge.Server, log *slog.Logger, adm *admin.Server) error {
	adm.Serve()
	defer adm.Close()
	// Orphans of programs (setsid, double forks) become wsbridge's, so that
	// they end with their session and are reaped.
	if stopReaping, err := process.Subreaper(); err != nil {
		log.Warn("orphans of programs will outlive their sessions", "err", err)
	} else {
		defer stopReaping()
	}
	var ctx context.Context
	var stop func()
	if srv.DrainTimeout > 0 {
		ctx, stop = drainOnSIGTERM(srv)
	} else {
		ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	}
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		return cli.Exit(err.Error(), exitRuntime)
	}
	log.Info("stopped")
	return nil
}

// drainOnSIGTERM starts srv's drain on the first SIGTERM; the context it
// returns ends on SIGINT or the next SIGTERM.
func drainOnSIGTERM(srv *bridge.Server) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGTERM && !srv.Draining() {
					srv.Drain()
					continue
				}
				cancel()
			case <-done:
				return
			}
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel() }
}

// ignoreHangups keeps SIGHUP (a closed terminal, or a reload by habit) from
// killing the server and its sessions: without --config there is nothing to
// reload, since certificates, htpasswd, token and bearer files are re-read
// when they change. It returns the function that stops it.
func ignoreHangups(log *slog.Logger) func() {
	onHangup, stop := hangups()
	onHangup(func() {
		log.Info("SIGHUP ignored: certificates, htpasswd, token and bearer files are re-read when they change; sessions go on")
	})
	return stop
}

// buildServer builds the server the flags and arguments say, before
// anything listens: fileFromFlags, File.Validate and buildConfigServer, as
// for a config file, with each error naming its flag.
func buildServer(c *cli.Context, log *slog.Logger) (*bridge.Server, error) {
	return buildServerOn(c, log, nil)
}

// buildServerOn is buildServer for a server that serves sockets systemd
// passed (socket activation) instead of the listening flags, if any.
func buildServerOn(c *cli.Context, log *slog.Logger, inherited []net.Listener) (*bridge.Server, error) {
	_, srv, err := serverFromFlags(c, log, inherited)
	return srv, err
}

// serverFromFlags is buildServerOn with the checked File it built from.
func serverFromFlags(c *cli.Context, log *slog.Logger, inherited []net.Listener) (*config.File, *bridge.Server, error) {
	if len(inherited) > 0 {
		if err := checkActivatedFlags(c, len(inherited)); err != nil {
			return nil, nil, err
		}
	}
	f, extras, err := fileFromFlags(c)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTrustedProxies(c, f.TrustedProxies, inherited); err != nil {
		return nil, nil, err
	}
	if len(inherited) > 0 {
		// Validate takes a systemd listener for either kind of socket.
		f.Listen = []config.Listener{{Systemd: "LISTEN_FDS", TLS: f.Listen[0].TLS}}
	}
	if err := f.Validate(); err != nil {
		return nil, nil, flagError(f, err)
	}
	srv, err := buildConfigServer(f, log)
	if err != nil {
		return nil, nil, flagError(f, err)
	}
	if len(inherited) > 0 {
		srv.Listeners[0].Inherited = inherited
	}
	extras.apply(srv)
	return f, srv, nil
}

// checkTrustedProxies: on a unix socket no peer has an address, and on TCP
// none is a unix peer, so such a --trusted-proxy would never match.
func checkTrustedProxies(c *cli.Context, proxies []string, inherited []net.Listener) error {
	unixsocket := c.String("unixsocket") != ""
	for _, v := range proxies {
		p, _ := bridge.ParseTrustedProxy(v) // fileFromFlags checked it
		switch {
		case len(inherited) > 0:
			if err := checkInheritedProxy(p, v, inherited); err != nil {
				return err
			}
		case p == bridge.UnixPeers && !unixsocket:
			return usageError("--trusted-proxy unix needs --unixsocket")
		case p != bridge.UnixPeers && unixsocket:
			return usageError("--trusted-proxy %s: peers of --unixsocket have no address; --trusted-proxy unix trusts them", v)
		}
	}
	return nil
}

// parseBasePath reads --base-path into "/" or "/a/b/".
func parseBasePath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "?#") {
		return "", usageError("--base-path: %q must be a path such as /term/", v)
	}
	p := path.Clean(v)
	if p != "/" {
		p += "/"
	}
	return p, nil
}

// The largest values of the duration flags. Anything larger is a slip, and
// far larger overflows time.Duration (--pingms 18446744073710 became 448 µs).
const (
	maxPing      = 24 * time.Hour // --pingms, connect's --ping and --ping-timeout
	maxCloseWait = time.Hour      // --closems: shutdown may take three times as long
	maxIdle      = 365 * 24 * time.Hour
	maxDial      = time.Hour      // --dial-timeout, both commands
	maxFailDelay = time.Minute    // --auth-fail-delay: each one holds a connection
	maxDrain     = 24 * time.Hour // --drain-timeout, --drain-delay
)

// parseDuration reads a duration flag: "90s", "5m", or a bare number of
// seconds (websockify's form), from 0 to max. Empty is 0.
func parseDuration(name, s string, max time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if secs, ferr := strconv.ParseFloat(s, 64); ferr == nil {
		d, err = 0, errors.New("out of range")
		if secs >= 0 && secs <= max.Seconds() { // before converting: out of range, any value comes out
			d, err = time.Duration(secs*float64(time.Second)), nil
		}
	}
	if err != nil || d < 0 || d > max {
		return 0, usageError("--%s: %q is not a duration from 0 to %s (\"90s\", \"5m\", or seconds)", name, s, shortDuration(max))
	}
	return d, nil
}

// parseSize reads a size in bytes: "1048576", "50MB", "1.5GiB" (see
// internal/size, which the config file shares).
func parseSize(s string) (int64, error) { return size.Parse(s) }

// shortDuration writes 1h for 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// splitLists is splitList over a repeatable flag, so that one environment
// variable can carry several values ("127.0.0.1,::1"). Header flags are not
// split: their values may hold commas.
func splitLists(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, splitList(v)...)
	}
	return out
}

// newLogger maps websocketd's levels onto slog's: access lines are Info.
func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug", "trace":
		lv = slog.LevelDebug
	case "access", "info":
		lv = slog.LevelInfo
	case "error":
		lv = slog.LevelError
	case "fatal":
		lv = slog.LevelError + 4
	default:
		return nil, usageError("--loglevel: %q is not one of debug, trace, access, info, error, fatal", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usageError("--logformat: %q is not text or json", format)
}
