package bridge

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/web"
	"github.com/wsbridge/wsbridge/wire"
)

// Route holds everything one endpoint needs: its path, backend, framing,
// limits and checks, and what plain HTTP requests get. The command-line
// flags fill one Route; a config file any number.
type Route struct {
	Name string // in log lines as "route"; empty: its path
	// Path is where the route is served. Empty or "/": every path no other
	// route takes. Ending in "/", such as "/term/" where a reverse proxy
	// mounts it: a prefix, stripped, so that backends, pages and folders see
	// what follows it (from a "/"); the prefix without its slash is
	// redirected to it. Otherwise an exact path, which the backend sees as
	// "/".
	Path string

	Backend      Backend
	Framing      Framing
	MaxMessage   int           // largest message, each way (--maxframesize)
	PingInterval time.Duration // 0: no pings
	IdleTimeout  time.Duration // end a session without data either way for this long; 0: never
	// Compression negotiates permessage-deflate (RFC 7692) with a client
	// that offers it. gorilla/websocket does it without context takeover:
	// each message is deflated on its own, with a compressor (about 1.1 MiB)
	// from a shared pool held only while the message is written, so an
	// idle session holds nothing for it.
	Compression bool
	Origins     OriginPolicy
	Auth        *auth.Checker // who may connect; nil: anyone who reaches the server
	// ClientCNs, if any, are the common names a client certificate must
	// have on this route; a listener's TLS has verified it (a client CA).
	// Other requests get 403 before anything else.
	ClientCNs    []string
	Subprotocols []string
	MaxSessions  int // concurrent sessions and CGI runs, 0: no limit (--maxforks)

	Header     http.Header // on every response
	HeaderWS   http.Header // on upgrade responses
	HeaderHTTP http.Header // on every other response

	StaticDir string
	CGIDir    string
	CGIEnv    []string // variables CGI scripts get from wsbridge's environment
	// CGISoftware is CGI scripts' SERVER_SOFTWARE, e.g. "wsbridge/1.0.0".
	CGISoftware string
	// CGIGrace is added to each wait of a CGI script's signal ladder (--closems).
	CGIGrace   time.Duration
	DevConsole bool

	// Terminal, with the Terminal framing and a PTY backend, serves the
	// browser terminal's page to plain requests and its options to sessions.
	Terminal *web.Terminal
}

// admission is what a route handler needs of the server it runs in, instead
// of the server itself: the server-wide rules on sessions (its MaxSessions,
// --once) and the tracking that shutdown, --once and --exit-no-conn wait on.
// A route's own limits (MaxSessions) stay in its handler. *Server
// implements it.
type admission interface {
	// acquire takes a slot of the server-wide limit for a session or a CGI
	// run; false: refused (429). release gives it back.
	acquire() bool
	release()
	// admit takes the server's leave for a session; false: refused
	// (--once has served its one session).
	admit() bool
	// unadmit gives the leave back for a session that never opened.
	unadmit()
	// track registers a live session; false means the server is shutting
	// down (the session is tracked all the same, so shutdown waits for it).
	track(*wsSession) bool
	untrack(*wsSession)
	// hold and unhold count work that shutdown waits for and that is not
	// a tracked session: a CGI run, or a session between its upgrade and
	// track (its client has 101 and must get its 1001).
	hold()
	unhold()
}

// routeHandler serves one Route: WebSocket upgrades go to the backend, other
// requests to CGI, static files or the dev console. The mux has matched the
// route and stripped its path before.
type routeHandler struct {
	route    *Route
	adm      admission
	log      *slog.Logger // the server's, with the route's name
	obs      Observer     // the server's
	upgrader websocket.Upgrader
	plain    http.Handler
	kind     string // the backend's, for observers
	// active counts sessions and CGI runs under way; a reload hands it on
	// to the route that replaces this one (newMux).
	active *atomic.Int64
}

func newRouteHandler(route *Route, adm admission, log *slog.Logger, obs Observer) *routeHandler {
	h := &routeHandler{route: route, adm: adm, log: log, obs: obs, kind: BackendKind(route.Backend), active: new(atomic.Int64)}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Frame headers and small messages go through this buffer; large
		// payloads are read past it. 512 bytes instead of reusing the
		// hijacked 4 KiB reader: 3.5 KiB less per idle connection, no
		// slower (bench pipeline).
		ReadBufferSize:    512,
		WriteBufferPool:   writeBufferPool,
		Subprotocols:      route.Subprotocols,
		EnableCompression: route.Compression,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked before, by route.Origins
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	h.plain = h.plainHandler()
	return h
}

// writeBufferPool shares write buffers across connections: a connection holds
// one only while it writes.
var writeBufferPool = &sync.Pool{}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addHeaders(w.Header(), h.route.Header)
	upgrade := websocket.IsWebSocketUpgrade(r)
	if !h.clientCNAllowed(w, r) {
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, "/") // a CONNECT request's is empty
	if !upgrade && h.route.Terminal != nil && web.IsTerminalAsset(rel) {
		// The same public bytes for everyone: no credentials needed, so a
		// page opened with ?access_token= (not sent for scripts) loads.
		addHeaders(w.Header(), h.route.HeaderHTTP)
		h.route.Terminal.Serve(w, r, rel)
		return
	}
	// The origin is checked first: valid credentials never excuse another
	// site's page.
	if upgrade && !h.route.Origins.Check(r) {
		h.refused(w, RefusedOrigin, r, nil)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if h.route.Auth != nil {
		authed, failure := h.route.Auth.Check(r)
		if failure != nil {
			h.refused(w, RefusedAuth, r, failure)
			h.route.Auth.Refuse(w, r, failure)
			return
		}
		r = authed
		noteUser(w, r)
	}
	if !upgrade {
		addHeaders(w.Header(), h.route.HeaderHTTP)
		h.plain.ServeHTTP(w, r)
		return
	}
	// Refused here, not by the upgrade, so no program starts for it.
	if err := checkHandshake(r); err != nil {
		h.refused(w, RefusedBadHandshake, r, err)
		writeOpenError(w, err)
		return
	}
	if !h.acquire() {
		h.refused(w, RefusedLimit, r, nil)
		writeOpenError(w, errTooMany)
		return
	}
	if !h.adm.admit() {
		h.release()
		h.refused(w, RefusedOnce, r, nil)
		writeOpenError(w, errOnce)
		return
	}
	opening := time.Now()
	backend, err := h.route.Backend.Open(r)
	openTime := time.Since(opening)
	if err != nil {
		h.releaseUnopened()
		h.refused(w, refusalOf(err), r, err)
		writeOpenError(w, err)
		return
	}
	respHeader := http.Header{}
	respHeader.Set(wire.HalfCloseHeader, strconv.Itoa(int(wire.EndOfInput)))
	addHeaders(respHeader, h.route.HeaderWS)
	for k, v := range w.Header() {
		respHeader[k] = v
	}
	// From the hijack on, net/http's shutdown no longer waits for this
	// connection: the hold keeps ours waiting until track counts it.
	h.adm.hold()
	conn, err := h.upgrader.Upgrade(checkedHijack{w}, r, respHeader)
	if err != nil {
		h.adm.unhold()
		backend.Stop()
		backend.Close()
		h.releaseUnopened()
		return
	}
	if testHookUpgraded != nil {
		testHookUpgraded()
	}
	conn.SetReadLimit(int64(h.route.MaxMessage))
	s := newSession(conn, backend, h.route, r, h.log, h.obs)
	s.event.Kind, s.event.OpenTime = h.kind, openTime
	if !h.adm.track(s) {
		s.goingAway()
	}
	h.adm.unhold()
	h.obs.Opened(s.event)
	// The handler returns now; its goroutine and buffers go back to the server.
	go func() {
		defer h.release()
		defer h.adm.untrack(s)
		s.run()
	}()
}

// testHookUpgraded, if set (by tests), runs between a session's upgrade and
// its tracking.
var testHookUpgraded func()

// refused tells the observer that r was refused on this route, and why;
// a plain request's access line notes why too.
func (h *routeHandler) refused(w http.ResponseWriter, reason Refusal, r *http.Request, err error) {
	if rec, ok := w.(*plainRecorder); ok {
		rec.refusal = reason
	}
	h.obs.Refused(RefusedEvent{
		Reason:  reason,
		Route:   h.route.routeName(),
		Client:  r.RemoteAddr,
		Path:    r.URL.Path,
		User:    userOf(r),
		Upgrade: websocket.IsWebSocketUpgrade(r),
		Err:     err,
		Request: r,
	})
}

// checkHandshake refuses what gorilla's Upgrader refuses, with its status
// and its Sec-WebSocket-Version header, so that the backend opens only for a
// handshake that will succeed (RFC 6455 section 4.2.1).
func checkHandshake(r *http.Request) *HTTPError {
	bad := func(status int, msg string) *HTTPError {
		return &HTTPError{Status: status, Message: msg, Header: http.Header{"Sec-Websocket-Version": {"13"}}}
	}
	switch {
	case !websocket.IsWebSocketUpgrade(r):
		return bad(http.StatusBadRequest, "not a WebSocket handshake: no Connection: upgrade and Upgrade: websocket")
	case r.Method != http.MethodGet:
		return bad(http.StatusMethodNotAllowed, "a WebSocket handshake is a GET")
	case !hasToken(r.Header, "Sec-Websocket-Version", "13"):
		return bad(http.StatusBadRequest, "unsupported WebSocket version: 13 only")
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-Websocket-Key"))
	if err != nil || len(key) != 16 {
		return bad(http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

// hasToken says whether a comma-separated header lists token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// errTooMany answers a request over MaxSessions (--maxforks).
var errTooMany = &HTTPError{
	Status:  http.StatusTooManyRequests,
	Message: "too many sessions",
	Header:  http.Header{"Retry-After": {"1"}},
}

// acquire takes a session slot, if the route's MaxSessions and the
// server's allow.
func (h *routeHandler) acquire() bool {
	if n := h.active.Add(1); h.route.MaxSessions > 0 && n > int64(h.route.MaxSessions) {
		h.active.Add(-1)
		return false
	}
	if !h.adm.acquire() {
		h.active.Add(-1)
		return false
	}
	return true
}

func (h *routeHandler) release() {
	h.adm.release()
	h.active.Add(-1)
}

// releaseUnopened gives back the slot of a session that never started,
// --once's too.
func (h *routeHandler) releaseUnopened() {
	h.release()
	h.adm.unadmit()
}

// errOnce answers a session after the one --once serves.
var errOnce = &HTTPError{Status: http.StatusServiceUnavailable, Message: "this server serves one session (--once)"}

func writeOpenError(w http.ResponseWriter, err error) {
	var he *HTTPError
	if !errors.As(err, &he) {
		he = httpErrorf(http.StatusInternalServerError, "cannot open the backend")
	}
	addHeaders(w.Header(), he.Header)
	http.Error(w, he.Message, he.Status)
}

// plainHandler is what a request without an upgrade gets, in websocketd's
// order: a CGI script, a static file, the dev console, or 426. A path
// under --cgidir that names no script is 404 (websocketd's answer), but
// the root names none: it still says what the server is.
func (h *routeHandler) plainHandler() http.Handler {
	var static http.Handler
	if h.route.StaticDir != "" {
		static = staticHandler(h.route.StaticDir)
	}
	var cgi *cgiHandler
	if h.route.CGIDir != "" {
		// Absolute: a script runs in dir, where a relative path would miss it.
		dir, _ := filepath.Abs(h.route.CGIDir)
		cgi = &cgiHandler{
			dir:     dir,
			gateway: gateway{baseEnv: PassEnv(h.route.CGIEnv), serverSoftware: h.route.CGISoftware},
			grace:   h.route.CGIGrace,
			limit:   h,
			log:     h.log,
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case h.route.Terminal != nil && watchGone(h.route.Backend, w, r):
		case h.route.Terminal != nil && h.route.Terminal.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/")):
		case cgi != nil && cgi.serve(w, r):
		case static != nil:
			static.ServeHTTP(w, r)
		case h.route.DevConsole:
			web.ServeDevConsole(w, r)
		case r.URL.Path == "/favicon.ico", cgi != nil && r.URL.Path != "/":
			// The icon every browser asks for, or no such script.
			http.NotFound(w, r)
		default:
			w.Header().Set("Upgrade", "websocket")
			http.Error(w, "this is a WebSocket endpoint: connect with a WebSocket client", http.StatusUpgradeRequired)
		}
	})
}

func addHeaders(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// ParseHeader reads a "Name: value" flag value.
func ParseHeader(h http.Header, s string) error {
	name, value, ok := cutHeader(s)
	if !ok {
		return errors.New("want \"Name: value\", got " + strconv.Quote(s))
	}
	h.Add(name, value)
	return nil
}

// cutHeader splits "Name: value", refusing what would break the response.
func cutHeader(s string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || strings.ContainsAny(value, "\r\n\x00") {
		return "", "", false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return "", "", false
		}
	}
	return name, value, true
}
