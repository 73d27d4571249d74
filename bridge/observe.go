package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/wsbridge/wsbridge/auth"
)

// An Observer hears what the server did with requests and sessions: a
// request refused (and why), a session opened, a session ended. The server
// calls it from the request's or the session's goroutine, so several calls
// may run at once; a method must not block. The access log (AccessLog) is
// the server's default; metrics are another. Counting for admission (a
// route's MaxSessions) is not observation and stays in the route.
type Observer interface {
	Refused(RefusedEvent)
	Opened(SessionEvent)
	Ended(EndedEvent)
}

// Observers is several observers, each told in turn.
type Observers []Observer

func (o Observers) Refused(e RefusedEvent) {
	for _, x := range o {
		x.Refused(e)
	}
}

func (o Observers) Opened(e SessionEvent) {
	for _, x := range o {
		x.Opened(e)
	}
}

func (o Observers) Ended(e EndedEvent) {
	for _, x := range o {
		x.Ended(e)
	}
}

// Refusal is why a request was refused, one of a small fixed set (never a
// path or an address), so that it can label a metric.
type Refusal uint8

const (
	RefusedHost           Refusal = iota + 1 // 421: not a Host name the server answers to
	RefusedOrigin                            // 403: another site's page
	RefusedAuth                              // 401, or 429 after too many failures
	RefusedClientCert                        // 403: no client certificate, or its name is not allowed
	RefusedLimit                             // 429: a route's or the server's MaxSessions
	RefusedOnce                              // 503: --once has served its one session
	RefusedNotFound                          // 404: no route, no script, no such token
	RefusedBadHandshake                      // 400, 405: not a WebSocket handshake we accept
	RefusedDialFailed                        // 502: the backend could not be reached
	RefusedDialTimeout                       // 504: the backend did not answer in time
	RefusedSpawnFailed                       // 500: the program could not be started
	RefusedOutOfResources                    // 503: out of processes, descriptors or memory
	RefusedDraining                          // 503: the server is draining (Server.Drain)
)

var refusalNames = [...]string{
	RefusedHost:           "host",
	RefusedOrigin:         "origin",
	RefusedAuth:           "auth",
	RefusedClientCert:     "client certificate",
	RefusedLimit:          "limit",
	RefusedOnce:           "once",
	RefusedNotFound:       "not found",
	RefusedBadHandshake:   "bad handshake",
	RefusedDialFailed:     "dial failed",
	RefusedDialTimeout:    "dial timeout",
	RefusedSpawnFailed:    "spawn failed",
	RefusedOutOfResources: "out of resources",
	RefusedDraining:       "draining",
}

func (r Refusal) String() string {
	if int(r) < len(refusalNames) && refusalNames[r] != "" {
		return refusalNames[r]
	}
	return "unknown"
}

// refusalOf is why a backend's Open failed: the *HTTPError's Refusal, or
// else what its status says.
func refusalOf(err error) Refusal {
	var he *HTTPError
	if !errors.As(err, &he) {
		return RefusedSpawnFailed // writeOpenError answers 500
	}
	if he.Refusal != 0 {
		return he.Refusal
	}
	switch he.Status {
	case http.StatusNotFound:
		return RefusedNotFound
	case http.StatusServiceUnavailable:
		return RefusedOutOfResources
	case http.StatusGatewayTimeout:
		return RefusedDialTimeout
	case http.StatusInternalServerError:
		return RefusedSpawnFailed
	}
	return RefusedDialFailed
}

// RefusedEvent is a request answered with an error instead of a page or a
// session.
type RefusedEvent struct {
	Reason  Refusal
	Route   string // the route's name; "" when no route was chosen yet
	Client  string // the client's address
	Path    string // as the route sees it (its prefix stripped), without the query
	User    string // who the request proved to be, if it got that far
	Upgrade bool   // a WebSocket handshake, not a plain request
	// Err is why the backend did not open (RefusedNotFound, RefusedDial*,
	// RefusedSpawnFailed, RefusedOutOfResources), what was wrong with the
	// handshake (RefusedBadHandshake) or the credentials (RefusedAuth, an
	// *auth.Failure); nil otherwise.
	Err error
	// Request is the refused request, for details such as its Host, Origin
	// or client certificate. Read it during the call; don't keep it.
	Request *http.Request
}

// SessionEvent is a session: where it came from and when it started.
type SessionEvent struct {
	Route  string // the route's name
	Client string // the client's address
	Path   string // as the route sees it, without the query
	User   string // authenticated user, or "cn=NAME" of a client certificate
	Start  time.Time
	Kind   string // the backend's (BackendKind)
	// OpenTime is how long the backend took to open: the program's spawn,
	// the dial (and TLS, PROXY header) to the target; a pty's program
	// starts later, at the client's first size.
	OpenTime time.Duration
}

// EndedEvent is a session that ended, and how.
type EndedEvent struct {
	SessionEvent
	Ending            Ending
	BytesIn, BytesOut int64 // the messages' payload: from the client, to it
	Duration          time.Duration
	CloseCode         int // the close code we sent, 0 if none
	ClientCloseCode   int // the close code the client sent, 0 if none
}

// AccessLog is the observer that writes the server's access and refusal
// lines to log: the default when Server.Observer is nil.
func AccessLog(log *slog.Logger) Observer { return accessLog{log} }

type accessLog struct{ log *slog.Logger }

// routeLog is the log with the route's name, as route lines always had;
// With allocates, so only lines that are written ask for it.
func (a accessLog) routeLog(route string) *slog.Logger {
	if route == "" {
		return a.log
	}
	return a.log.With("route", route)
}

// Refused writes a refusal's access line: one line at Info or above for
// each refused request, with its reason and HTTP status. A plain request's
// is its "http" line (which notes the reason), so here it gets only the
// warnings it always had; a request refused before any route (host) and a
// WebSocket handshake get theirs here.
func (a accessLog) Refused(e RefusedEvent) {
	if !e.Upgrade && e.Reason != RefusedHost {
		a.plainRefused(e)
		return
	}
	// Every line ends alike, so one query finds every refusal by reason.
	tail := []any{"user", e.User, "reason", e.Reason.String(), "status", e.Status()}
	at := func(args ...any) []any { return append(args, tail...) }
	var failure *auth.Failure
	switch e.Reason {
	case RefusedHost: // before any route
		a.log.Warn("host rejected: not a name this server answers to (see --allowed-host)", at("client", e.Client, "host", e.Request.Host, "path", e.Path)...)
	case RefusedOrigin:
		a.routeLog(e.Route).Warn("origin rejected", at("client", e.Client, "origin", e.Request.Header.Get("Origin"), "path", e.Path)...)
	case RefusedClientCert:
		a.certRefused(e, tail)
	case RefusedAuth:
		// auth's messages, at access level: a handshake has no "http" line.
		errors.As(e.Err, &failure)
		switch {
		case failure != nil && failure.Status == http.StatusTooManyRequests:
			a.routeLog(e.Route).Info("authentication refused: too many failures", at("client", e.Client, "path", e.Path, "retry_after", failure.RetryAfter)...)
		case failure != nil && failure.Why != "":
			a.routeLog(e.Route).Warn("authentication failed", at("client", e.Client, "path", e.Path, "why", failure.Why)...)
		default:
			a.routeLog(e.Route).Info("authentication required", at("client", e.Client, "path", e.Path)...)
		}
	case RefusedDraining:
		a.routeLog(e.Route).Info("session refused: draining", at("client", e.Client, "path", e.Path)...)
	case RefusedBadHandshake:
		// At Info like any refusal: one line per request, as a 404's.
		a.routeLog(e.Route).Info("bad handshake", at("client", e.Client, "err", e.Err, "path", e.Path)...)
	default:
		args := []any{"client", e.Client, "path", e.Path}
		if e.Err != nil { // the backend did not open
			args = append(args, "err", e.Err)
		}
		a.routeLog(e.Route).Info("session refused", at(args...)...)
	}
}

// certRefused writes a client certificate's refusal, with tail.
func (a accessLog) certRefused(e RefusedEvent, tail []any) {
	if tls := e.Request.TLS; tls == nil || len(tls.VerifiedChains) == 0 {
		a.routeLog(e.Route).Warn("client certificate refused: none verified", append([]any{"client", e.Client, "path", e.Path}, tail...)...)
	} else {
		a.routeLog(e.Route).Warn("client certificate refused: common name not allowed", append([]any{"client", e.Client, "path", e.Path, "cn", tls.PeerCertificates[0].Subject.CommonName}, tail...)...)
	}
}

// plainRefused writes the warnings of a plain request's refusal; its
// "http" line is its access line.
func (a accessLog) plainRefused(e RefusedEvent) {
	var failure *auth.Failure
	switch e.Reason {
	case RefusedAuth:
		if errors.As(e.Err, &failure) {
			auth.LogFailure(a.log, e.Request, failure) // auth's lines had no route
		}
	case RefusedClientCert:
		a.certRefused(e, nil)
	}
}

// Status is the HTTP status the refusal was answered with.
func (e RefusedEvent) Status() int {
	var he *HTTPError
	var failure *auth.Failure
	switch {
	case errors.As(e.Err, &he):
		return he.Status
	case errors.As(e.Err, &failure):
		return failure.Status
	}
	switch e.Reason {
	case RefusedHost:
		return http.StatusMisdirectedRequest
	case RefusedOrigin, RefusedClientCert:
		return http.StatusForbidden
	case RefusedLimit:
		return errTooMany.Status
	case RefusedOnce:
		return errOnce.Status
	case RefusedNotFound:
		return http.StatusNotFound
	case RefusedDraining:
		return errDraining.Status
	}
	return http.StatusInternalServerError // writeOpenError's answer to an error of no status
}

func (a accessLog) Opened(SessionEvent) {}

// Ended writes a session's access line. Attributes, not arguments, and the
// route as the first of them rather than a logger made With it: the same
// line, without boxing ten values and cloning a handler for every session,
// and nothing at all when Info is off.
func (a accessLog) Ended(e EndedEvent) {
	if a.log.Enabled(context.Background(), slog.LevelInfo) {
		a.sessionLine(e)
	}
}

// sessionLine writes the line: a function of its own, so that its array of
// attributes is in no frame when Info is off.
//
//go:noinline
func (a accessLog) sessionLine(e EndedEvent) {
	var attrs [11]slog.Attr
	line := attrs[:0]
	if e.Route != "" {
		line = append(line, slog.String("route", e.Route))
	}
	line = append(line,
		slog.String("client", e.Client),
		slog.String("path", e.Path),
		slog.Duration("duration", e.Duration.Round(time.Millisecond)),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.String("user", e.User),
		slog.String("status", e.Ending.Status),
		slog.Int("close_code", e.CloseCode),
		slog.Int("client_close_code", e.ClientCloseCode),
	)
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "session", line...)
}
