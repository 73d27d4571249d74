// Package config reads wsbridge's config file: one server (its listeners,
// trusted proxies, allowed hosts, logging, limits and timeouts) and many
// routes, each a path with exactly one backend (exec, pty, tcp, unix or
// tokens) and its own origins, auth and limits.
//
// The structs are plain data, 1:1 with what the bridge serves. Load reads a
// file strictly (an unknown key, a wrong type or a duplicate key is an
// error that names FILE:LINE:COLUMN and the key), makes relative paths
// relative to the file's folder, and fills in defaults; Validate checks
// everything else. Neither names a command-line flag. The command line
// fills the same structs (from New) and passes the same Validate; its
// caller names the flag of a key.
package config

import (
	"strings"
	"time"

	"github.com/wsbridge/wsbridge/web"
)

// File is a loaded config file.
type File struct {
	Path string `yaml:"-"` // the file it was read from; errors name it

	// Listen are the listeners; absent: one on loopback port 8080, as the
	// command line's default.
	Listen []Listener `yaml:"listen"`
	// TrustedProxies may tell the client's address (X-Forwarded-For,
	// X-Real-IP): CIDRs, addresses, or "unix" for every peer of a unix
	// listener.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AllowedHosts are Host names answered besides localhost, IP addresses,
	// certificate names and ACME domains: names, "*.domain", or "*".
	AllowedHosts []string `yaml:"allowed_hosts"`
	Log          Log      `yaml:"log"`
	Limits       Limits   `yaml:"limits"`
	Timeouts     Timeouts `yaml:"timeouts"`
	Admin        Admin    `yaml:"admin"`
	// Defaults apply to every route that does not set the same key: a key a
	// route sets replaces the default's whole value (all of auth, say).
	Defaults Settings `yaml:"defaults"`
	Routes   []Route  `yaml:"routes"`

	pos map[string]pos // where each key's value is, by key path ("routes[0].exec.command")
}

// Listener is one address and port, or one unix socket, or the sockets
// systemd passed under one name.
type Listener struct {
	Address      string     `yaml:"address"`       // a host or IP; empty: loopback (127.0.0.1 and ::1)
	Port         int        `yaml:"port"`          // default 8080; 0 picks a free port
	Unix         string     `yaml:"unix"`          // a unix socket's path, instead of address and port
	Systemd      string     `yaml:"systemd"`       // the FileDescriptorName= of sockets systemd passes (socket activation), instead of the above
	TLS          *ServerTLS `yaml:"tls"`           // nil: plain HTTP
	RedirectPort int        `yaml:"redirect_port"` // also listen here and redirect plain HTTP (and answer ACME's HTTP-01)
}

// ServerTLS is a listener's TLS: certificate files, or ACME, or both.
type ServerTLS struct {
	Certs []CertPair `yaml:"certs"` // chosen by SNI; re-read when they change
	ACME  *ACME      `yaml:"acme"`
	// ClientCA requires client certificates signed by the CAs in this PEM
	// file; a route's auth.client_cn narrows it to names.
	ClientCA string `yaml:"client_ca"`
}

// CertPair is a certificate chain file and its key file (PEM; may be one file).
type CertPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ACME gets certificates from an ACME CA (Let's Encrypt by default).
type ACME struct {
	Domains   []string `yaml:"domains"`
	Cache     string   `yaml:"cache"` // empty: the user's cache dir/wsbridge/acme
	Email     string   `yaml:"email"`
	Directory string   `yaml:"directory"` // the CA's directory URL; empty: Let's Encrypt
}

// Log is where log lines go: stderr, at this level, in this format.
type Log struct {
	Level  string `yaml:"level"`  // debug, trace, access (default), info, error, fatal
	Format string `yaml:"format"` // text (default) or json
}

// Limits are the server's, over all routes together.
type Limits struct {
	MaxSessions int `yaml:"max_sessions"` // sessions and CGI runs at once; 0: no limit
}

// Timeouts are the server's.
type Timeouts struct {
	Header   time.Duration `yaml:"header"`   // for a client's request headers; 0: 10s
	Shutdown time.Duration `yaml:"shutdown"` // sessions still open after it are cut; 0: from the routes' close_grace
	// DrainTimeout makes SIGTERM drain: new requests get 503 (after
	// DrainDelay), live sessions get this long, from the signal, to end on
	// their own before the shutdown. 0: SIGTERM shuts down at once.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// DrainDelay is how long a drain still serves new requests, so that
	// load balancers see the server is not ready first; at most DrainTimeout.
	DrainDelay time.Duration `yaml:"drain_delay"`
}

// Admin is the admin listener: metrics, health and readiness.
type Admin struct {
	// Address is HOST:PORT, or a bare port for loopback only; empty: no
	// admin listener.
	Address string `yaml:"address"`
}

// Settings are what a route may set, and defaults: give to all.
type Settings struct {
	// Origins are the browser pages allowed besides the same origin:
	// host[:port], scheme://host[:port], or "*".
	Origins      []string      `yaml:"origins"`
	Auth         Auth          `yaml:"auth"`
	Subprotocols []string      `yaml:"subprotocols"`
	MaxSessions  int           `yaml:"max_sessions"`  // at once on this route; 0: no limit
	MaxMessage   Size          `yaml:"max_message"`   // each way; default 1MiB, at most 1GiB
	PingInterval time.Duration `yaml:"ping_interval"` // 0: no pings
	IdleTimeout  time.Duration `yaml:"idle_timeout"`  // 0: never
	// CloseGrace is added to each wait of the signal ladder after a client
	// leaves (the command line's --closems); a dial backend gets 1s more.
	CloseGrace time.Duration `yaml:"close_grace"`
	Headers    Headers       `yaml:"headers"`
	// Compression is permessage-deflate (RFC 7692) with clients that offer
	// it: auto (or empty, the default: on for pty routes, whose text
	// deflates well, off for the bulk bytes of the others), on or off.
	Compression string `yaml:"compression"`
}

// Auth is who may use a route; without any method, anyone who reaches it.
type Auth struct {
	Basic           []BasicUser   `yaml:"basic"`
	Htpasswd        string        `yaml:"htpasswd"`          // bcrypt entries, re-read when it changes
	BearerTokenFile string        `yaml:"bearer_token_file"` // "TOKEN" or "USER TOKEN" lines
	JWT             *JWT          `yaml:"jwt"`
	Query           string        `yaml:"query"`      // the query parameter that may carry a token; default access_token, empty: none
	Cookie          string        `yaml:"cookie"`     // the cookie that may carry a token
	FailDelay       time.Duration `yaml:"fail_delay"` // before answering wrong credentials; default 1s
	FailLimit       int           `yaml:"fail_limit"` // wrong ones a minute from one address before 429; default 10, 0: none
	// ClientCN accepts only client certificates with one of these common
	// names (a listener's tls.client_ca verifies them).
	ClientCN []string `yaml:"client_cn"`
}

// Names says whether a method is given that names who a client is (the
// user a shared route's writers list).
func (a *Auth) Names() bool {
	return len(a.Basic) > 0 || a.Htpasswd != "" || a.BearerTokenFile != "" || a.JWT != nil || len(a.ClientCN) > 0
}

// BasicUser is one HTTP Basic user. The password is given in exactly one
// way: in the file, in a file of its own, or in an environment variable.
type BasicUser struct {
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"` // its first line
	PasswordEnv  string `yaml:"password_env"`  // a variable's name
}

// JWT accepts JWTs signed with a key.
type JWT struct {
	Key      string `yaml:"key"` // an RSA or ECDSA public key (PEM), or an HS256 secret of 32 bytes or more
	Audience string `yaml:"audience"`
}

// Headers are "Name: value" pairs added to responses.
type Headers struct {
	All  map[string]string `yaml:"all"`  // every response
	WS   map[string]string `yaml:"ws"`   // upgrade responses
	HTTP map[string]string `yaml:"http"` // plain HTTP responses
}

// Route is one path and its one backend, with optional plain-HTTP service
// on the same path.
type Route struct {
	// Path is exact ("/ssh"), or a prefix ending in "/" ("/term/"); the
	// longest matching route wins.
	Path string `yaml:"path"`
	Name string `yaml:"name"` // for logs; default: the path

	// Exactly one backend.
	Exec   *Exec   `yaml:"exec"`
	PTY    *PTY    `yaml:"pty"`
	TCP    *Dial   `yaml:"tcp"`
	Unix   *Dial   `yaml:"unix"`
	Tokens *Tokens `yaml:"tokens"`

	// Plain HTTP requests on the path. CGI scripts get the variables of
	// the route's program's pass_env (without a program: PATH and
	// LD_LIBRARY_PATH).
	Static     string `yaml:"static"`      // a folder of files
	CGI        string `yaml:"cgi"`         // a folder of CGI scripts
	DevConsole bool   `yaml:"dev_console"` // a page to try the endpoint from

	Settings `yaml:",inline"`
}

// Program is what exec and pty share: the program each session starts.
type Program struct {
	// Command is a name looked up in PATH, or a path (relative: to the
	// config file's folder).
	Command       string   `yaml:"command"`
	Args          []string `yaml:"args"`
	PassEnv       []string `yaml:"pass_env"`       // variables passed on; default PATH, LD_LIBRARY_PATH
	URLArgs       bool     `yaml:"url_args"`       // append the request's ?arg= values to Args
	ReverseLookup bool     `yaml:"reverse_lookup"` // fill REMOTE_HOST by reverse DNS
}

// Exec starts a program per WebSocket on pipes: Command, or the executable
// in Dir that the URL path names.
type Exec struct {
	Program `yaml:",inline"`
	Dir     string `yaml:"dir"`
	Framing string `yaml:"framing"` // line (default), raw or binary
	Stderr  string `yaml:"stderr"`  // log (default), pass or json
	// Unbuffer gives the program a pseudo-terminal in raw mode for its
	// stdout, so that it sends each line at once; stdin stays a pipe.
	Unbuffer bool `yaml:"unbuffer"`
	// Shared runs one program for every client of the route (broadcast)
	// instead of one each; nil: one each.
	Shared *Shared `yaml:"shared"`
}

// Shared is how a shared program runs and what its clients get.
type Shared struct {
	Start   string        `yaml:"start"`   // first (default): with the first client; always: with the server
	Linger  time.Duration `yaml:"linger"`  // start first: how long it runs on after the last client left; default 0
	Restart string        `yaml:"restart"` // when it exits: never (default), on-failure or always, with backoff
	Replay  int           `yaml:"replay"`  // the last messages a joining client gets first; default 0
	Queue   Size          `yaml:"queue"`   // each client's queue; default 256KiB
	Slow    string        `yaml:"slow"`    // a client whose queue is full: drop (1008, default), skip (ahead) or wait (lossless)
	Input   string        `yaml:"input"`   // whose messages reach the program: all (default) or none
	// Writers, if any, are the only users whose messages reach the program:
	// names the route's auth gives (a client certificate's is cn=NAME).
	Writers []string `yaml:"writers"`
}

// Fill gives what is not set its default.
func (s *Shared) Fill() {
	if s.Start == "" {
		s.Start = "first"
	}
	if s.Restart == "" {
		s.Restart = "never"
	}
	if s.Queue == 0 {
		s.Queue = defaultSharedQueue
	}
	if s.Slow == "" {
		s.Slow = "drop"
	}
	if s.Input == "" {
		s.Input = "all"
	}
}

// PTY runs a program per WebSocket on its own terminal, and serves the
// terminal page on the path.
type PTY struct {
	Program        `yaml:",inline"`
	Title          string            `yaml:"title"`            // default: what the program sets
	TermOptions    map[string]string `yaml:"term_options"`     // xterm.js options: fontSize: 16, theme: '{"background":"#202020"}'
	URLTermOptions []string          `yaml:"url_term_options"` // options a link may set; default web.DefaultURLOptions, []: none
	Index          string            `yaml:"index"`            // an HTML page of your own
	ReadOnly       bool              `yaml:"readonly"`
	Record         string            `yaml:"record"`     // a folder for asciicast recordings
	RecordMax      Size              `yaml:"record_max"` // each recording's cap; default 1GiB, 0: none
	// Linger makes terminals last: a program runs on this long after its
	// last client left, and a client that comes back gets its screen back;
	// 0 (default): it hangs up with its client.
	Linger time.Duration `yaml:"linger"`
	// Scrollback is the output a lasting terminal keeps for clients that
	// come back or watch; default 1MiB.
	Scrollback Size `yaml:"scrollback"`
	// Writers is who types into a lasting terminal, of the clients with
	// its id: all (default), or one (the one that attached last).
	Writers string `yaml:"writers"`
	// Dir, instead of Command, runs the executable in it that the URL path
	// names. Only the command line sets it (--pty --dir): the file has no
	// key for it yet.
	Dir string `yaml:"-"`
}

// Dial connects each WebSocket to one TCP target (host:port) or unix socket.
type Dial struct {
	Target      string `yaml:"target"`
	DialOptions `yaml:",inline"`
}

// Tokens connects each WebSocket to the target its ?token= (or Host name)
// names in websockify token files, or in Redis.
type Tokens struct {
	File string `yaml:"file"` // a token file, or a folder of them
	// Redis is websockify's TokenRedis source,
	// host[:port[:db[:password[:namespace]]]], or a redis:// URL.
	Redis string `yaml:"redis"`
	// Redis's password, kept out of the source: a file's first line, or an
	// environment variable. It replaces a password in the source.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	HostToken    bool   `yaml:"host_token"`
	DialOptions  `yaml:",inline"`
}

// DialOptions are what every dialing backend shares.
type DialOptions struct {
	TLS           *BackendTLS   `yaml:"tls"`            // nil: plain bytes to the backend
	ProxyProtocol string        `yaml:"proxy_protocol"` // v1 or v2: a PROXY header tells the backend the client
	DialTimeout   time.Duration `yaml:"dial_timeout"`   // default 10s
}

// BackendTLS speaks TLS to the backend, verifying its certificate.
type BackendTLS struct {
	CA         string `yaml:"ca"`          // PEM CAs; empty: the system's
	ServerName string `yaml:"server_name"` // default: the target's host
}

// Size is a number of bytes; in the file "1MiB", "50MB" or 1048576.
type Size int64

// Kind is the route's backend kind: "exec", "pty", "tcp", "unix" or
// "tokens"; several joined by " and ", or "" for none (Validate refuses both).
func (r *Route) Kind() string {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"exec", r.Exec != nil}, {"pty", r.PTY != nil}, {"tcp", r.TCP != nil}, {"unix", r.Unix != nil}, {"tokens", r.Tokens != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	return strings.Join(kinds, " and ")
}

// Compresses says whether the route negotiates permessage-deflate: its
// compression is on, or auto on a pty route.
func (r *Route) Compresses() bool {
	return r.Compression == "on" || r.Compression != "off" && r.PTY != nil
}

// Built-in defaults, the command line's.
const (
	defaultPort       = 8080
	defaultMaxMessage = 1 << 20
	defaultFailDelay  = time.Second
	defaultFailLimit  = 10
	defaultAuthQuery  = "access_token"
	defaultDial       = 10 * time.Second
	defaultRecordMax  = 1 << 30
	defaultScrollback = 1 << 20

	defaultSharedQueue = 256 << 10
)

var defaultPassEnv = []string{"PATH", "LD_LIBRARY_PATH"}

func defaultURLTermOptions() []string { return strings.Split(web.DefaultURLOptions, ",") }
