package bridge

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/process"
	wstls "github.com/wsbridge/wsbridge/tls"
	"github.com/wsbridge/wsbridge/wire"
)

// Program is what the exec and pty backends share: the program each
// WebSocket starts (one fixed command, or with ScriptDir the script the URL
// path names) and the environment it gets.
type Program struct {
	Command   string   // resolved path of the program; empty with ScriptDir
	Args      []string // its arguments
	ScriptDir string   // serve every executable in this folder instead

	BaseEnv        []string // the variables passed through from wsbridge's own environment
	ServerSoftware string   // SERVER_SOFTWARE, e.g. "wsbridge/1.0.0"
	HTTPS          bool     // sets HTTPS=on; otherwise a request over TLS does
	ReverseLookup  bool     // resolve REMOTE_HOST by DNS
	// URLArgs appends the request's ?arg= values to the arguments.
	URLArgs bool
	Grace   time.Duration
	Log     *slog.Logger
}

// Exec is the backend that starts a program on pipes for each WebSocket.
type Exec struct {
	Program
	Stderr StderrMode
	// MaxMessage, with StderrJSON, is the largest message: the Line
	// framing's limit, which no JSON line may pass (MinJSONMessage at least).
	MaxMessage int
	// Unbuffer gives the program a terminal for stdout (process.Spec's
	// Unbuffer), so that it flushes each line as on a console.
	Unbuffer bool
}

// Kind is "exec" (see BackendKind).
func (e *Exec) Kind() string { return "exec" }

// String names what Open starts, for logs.
func (e *Program) String() string {
	if e.ScriptDir != "" {
		return "scripts in " + e.ScriptDir
	}
	return strings.TrimSpace(e.Command + " " + strings.Join(e.Args, " "))
}

// spec resolves the script (in ScriptDir mode) and gives the program the
// request's CGI environment.
func (e *Program) spec(r *http.Request) (process.Spec, error) {
	prog, args := e.Command, e.Args
	script := scriptPaths{scriptName: "/", pathInfo: r.URL.Path}
	if e.ScriptDir != "" {
		var err error
		if script, err = findScript(e.ScriptDir, r.URL.Path); err != nil {
			return process.Spec{}, err
		}
		prog, args = script.file, nil
	}
	if e.URLArgs {
		args = append(slices.Clip(args), r.URL.Query()["arg"]...)
	}
	id := uniqueID()
	return process.Spec{
		Path:  prog,
		Args:  args,
		Env:   e.gateway().environment(r, script, id),
		Mark:  "UNIQUE_ID=" + id, // how escaped descendants are known
		Grace: e.Grace,
	}, nil
}

// Open starts the program with the request's CGI environment.
func (e *Exec) Open(r *http.Request) (Session, error) {
	spec, err := e.spec(r)
	if err != nil {
		return nil, err
	}
	spec.Unbuffer = e.Unbuffer
	var merged *jsonSession
	switch e.Stderr {
	case StderrPass:
		spec.Stderr = os.Stderr
	case StderrJSON:
		merged = newJSONSession(&spec, e.MaxMessage, e.Log.With("path", r.URL.Path, "client", r.RemoteAddr))
	default:
		// Made at the first line: most programs write none, and a logger
		// with attributes is seven allocations a session.
		var log *slog.Logger
		path, client := r.URL.Path, r.RemoteAddr
		spec.StderrLine = func(line string, truncated bool) { // from one goroutine
			if log == nil {
				log = e.Log.With("path", path, "client", client)
			}
			log.Error("stderr", "line", line, "truncated", truncated) // websocketd's level
		}
	}
	p, err := e.start(spec)
	if err != nil {
		// EAGAIN: the process limit (or, on macOS, no pseudo-terminal
		// left for Unbuffer); EMFILE: too many open files; ENOSPC: no
		// pseudo-terminal left.
		if outOfResources(err) || errors.Is(err, syscall.EAGAIN) {
			return nil, busyError("cannot start a process now")
		}
		return nil, httpErrorf(http.StatusInternalServerError, "cannot start the program")
	}
	if merged != nil {
		return merged.start(p), nil
	}
	return processSession{p}, nil
}

// start starts a program, logging why it could not.
func (e *Program) start(spec process.Spec) (*process.Process, error) {
	p, err := process.Start(spec)
	if err != nil {
		e.Log.Error("cannot start program", "program", spec.Path, "err", err)
	}
	return p, err
}

// processSession adapts a process to the Session interface.
type processSession struct{ *process.Process }

func (s processSession) Wait() Ending {
	st := s.Process.Wait()
	e := Ending{Status: st.String(), Reason: st.String()}
	switch {
	case st.Err != nil:
		e.Code, e.Reason = wire.InternalError, "exit status unknown"
	case st.Signal != 0:
		e.Code = wire.SignalCode(int(st.Signal))
	default:
		e.Code = wire.ExitCode(st.Code)
	}
	return e
}

// scriptPaths is where a request's path points in ScriptDir mode.
type scriptPaths struct {
	file       string // the script on disk
	scriptName string // the URL path of the script
	pathInfo   string // what follows it in the URL path
}

// findScript walks the URL path down dir until it reaches a file. Every step
// stays inside dir (symlinks too), and dotfiles are never served, so the
// answer is an HTTP error before any upgrade.
func findScript(dir, urlPath string) (scriptPaths, error) {
	root, err := openFolder(dir)
	if err != nil {
		return scriptPaths{}, httpErrorf(http.StatusInternalServerError, "script folder unavailable")
	}
	defer root.Close()
	rel := "."
	segs := strings.Split(strings.Trim(path.Clean("/"+urlPath), "/"), "/")
	for i, seg := range segs {
		if seg == "" {
			break
		}
		if strings.HasPrefix(seg, ".") {
			return scriptPaths{}, httpErrorf(http.StatusNotFound, "no such script")
		}
		rel = path.Join(rel, seg)
		fi, err := root.Stat(rel)
		if err != nil {
			return scriptPaths{}, httpErrorf(http.StatusNotFound, "no such script")
		}
		if fi.IsDir() {
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return scriptPaths{}, &HTTPError{Status: http.StatusForbidden, Message: "script is not executable", Refusal: RefusedSpawnFailed}
		}
		info := ""
		if rest := segs[i+1:]; len(rest) > 0 {
			info = "/" + strings.Join(rest, "/")
		}
		return scriptPaths{
			file:       filepath.Join(dir, filepath.FromSlash(rel)),
			scriptName: "/" + rel,
			pathInfo:   info,
		}, nil
	}
	return scriptPaths{}, httpErrorf(http.StatusNotFound, "no script at this path")
}

// gateway is what a program's CGI environment holds besides the request;
// exec programs and CGI scripts share it, and so every rule of it.
type gateway struct {
	baseEnv        []string // passed through from wsbridge's environment
	serverSoftware string
	https          bool
	reverseLookup  bool
}

func (e *Program) gateway() gateway {
	return gateway{e.BaseEnv, e.ServerSoftware, e.HTTPS, e.ReverseLookup}
}

// environment builds the program's CGI environment (RFC 3875, as websocketd
// sets it) from the request. Headers become HTTP_* variables, except those
// passedHeader refuses: two holes websocketd leaves open.
func (g gateway) environment(r *http.Request, script scriptPaths, uniqueID string) []string {
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil { // learned from a trusted proxy's header: no port
		host, port = r.RemoteAddr, ""
	}
	remoteHost := host
	if g.reverseLookup {
		if names, err := net.LookupAddr(host); err == nil && len(names) > 0 {
			remoteHost = strings.TrimSuffix(names[0], ".")
		}
	}
	https := g.https || r.TLS != nil // a server with plain and TLS listeners
	serverName, serverPort := splitHost(r.Host, https)

	// The variables are gathered here, then written into one string that
	// each NAME=value is a piece of: a session's start makes one allocation
	// for all of them, not one each. Not an array on the stack: 1.3 KiB
	// more in the frame grew the handler's goroutine's stack once more,
	// and copying a stack costs more than this allocation.
	e := envVars{vars: make([]envVar, 0, cgiVars+len(r.Header))}
	e.set("SERVER_SOFTWARE", g.serverSoftware)
	e.set("GATEWAY_INTERFACE", "CGI/1.1")
	e.set("SERVER_PROTOCOL", r.Proto)
	e.set("SERVER_NAME", serverName)
	e.set("SERVER_PORT", serverPort)
	e.set("REQUEST_METHOD", r.Method)
	e.set("REMOTE_ADDR", host)
	e.set("REMOTE_HOST", remoteHost)
	e.set("REMOTE_PORT", port)
	e.set("SCRIPT_NAME", script.scriptName)
	e.set("PATH_INFO", script.pathInfo)
	e.set("PATH_TRANSLATED", r.URL.Path)
	e.set("QUERY_STRING", r.URL.RawQuery)
	e.set("REQUEST_URI", cmp.Or(r.RequestURI, r.URL.RequestURI())) // as sent, before --base-path is cut
	e.set("UNIQUE_ID", uniqueID)
	// Cleared so nothing passed through can pose as the request's own.
	e.set("CONTENT_LENGTH", "")
	e.set("CONTENT_TYPE", "")
	e.set("REMOTE_IDENT", "")
	for _, kv := range identityEnv(r) {
		e.set(kv[0], kv[1])
	}
	if https {
		e.set("HTTPS", "on")
	}
	vars := e.vars
	for name, values := range r.Header { // without credentials: auth.Checker took them out
		if passedHeader(name) {
			sep := ", "
			if name == "Cookie" {
				sep = "; " // RFC 6265: one Cookie header, pairs joined by "; "
			}
			vars = append(vars, envVar{name: name, value: strings.Join(values, sep), header: true})
		}
	}
	size := 0
	for i := range vars {
		vars[i].value = cleanEnvValue(vars[i].value) // allocates only what it changes
		size += vars[i].len()
	}
	var b strings.Builder
	b.Grow(size)
	for _, v := range vars {
		v.write(&b)
	}
	all := b.String()
	env := make([]string, len(g.baseEnv), len(g.baseEnv)+len(vars))
	copy(env, g.baseEnv)
	for _, v := range vars {
		n := v.len()
		env, all = append(env, all[:n]), all[n:]
	}
	return env
}

// cgiVars is about how many variables environment sets besides the
// headers' and baseEnv (a capacity, not a limit).
const cgiVars = 24

// envVars gathers environment's variables.
type envVars struct{ vars []envVar }

// set adds a variable. Not inlined: each inlined copy would have its own
// slots in environment's frame (1.4 KiB for 21 of them).
//
//go:noinline
func (e *envVars) set(name, value string) {
	e.vars = append(e.vars, envVar{name: name, value: value})
}

// envVar is one of environment's variables, a header's (HTTP_ and the
// name in upper case with "-" as "_") or not.
type envVar struct {
	name, value string
	header      bool
}

// len is the length of NAME=value.
func (v envVar) len() int {
	n := len(v.name) + 1 + len(v.value)
	if v.header {
		n += len("HTTP_")
	}
	return n
}

// write writes NAME=value.
func (v envVar) write(b *strings.Builder) {
	if !v.header {
		b.WriteString(v.name)
	} else {
		b.WriteString("HTTP_")
		for i := range len(v.name) {
			c := v.name[i]
			switch {
			case c == '-':
				c = '_'
			case 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('=')
	b.WriteString(v.value)
}

// passedHeader says whether a request header reaches programs (exec and CGI)
// as an HTTP_* variable. Not "Proxy": HTTP_PROXY would redirect the program's
// own HTTP client ("httpoxy"). Not a name spelled with "_": it would become
// the same variable as its dashed twin (X_Foo as X-Foo) and could override it.
func passedHeader(name string) bool {
	return !strings.ContainsRune(name, '_') && !strings.EqualFold(name, "Proxy")
}

// identityEnv is who the request proved to be: REMOTE_USER and AUTH_TYPE
// (empty without authentication) and, with a client certificate, mod_ssl's
// SSL_CLIENT_* variables.
func identityEnv(r *http.Request) [][2]string {
	id, _ := auth.FromContext(r.Context())
	vars := [][2]string{{"REMOTE_USER", id.User}, {"AUTH_TYPE", id.Type}}
	cert := wstls.ClientIdentity(r.TLS)
	for _, k := range slices.Sorted(maps.Keys(cert)) {
		vars = append(vars, [2]string{k, cert[k]})
	}
	return vars
}

// splitHost splits a Host header into name and port, with the scheme's
// default port when it names none.
func splitHost(hostport string, https bool) (string, string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	if https {
		return strings.Trim(hostport, "[]"), "443"
	}
	return strings.Trim(hostport, "[]"), "80"
}

var envCleaner = strings.NewReplacer("\n", " ", "\r", " ", "\x00", "")

func cleanEnvValue(v string) string { return strings.TrimSpace(envCleaner.Replace(v)) }

// uniqueID is 128 random bits: unique across sessions and restarts.
func uniqueID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PassEnv picks the named variables from wsbridge's own environment.
func PassEnv(names []string) []string {
	var env []string
	for _, k := range names {
		if v, ok := os.LookupEnv(k); ok && k != "" {
			env = append(env, k+"="+cleanEnvValue(v))
		}
	}
	return env
}
