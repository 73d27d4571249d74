// Package auth decides who a request is before anything is served: HTTP
// Basic (users given, or an htpasswd file), bearer tokens (a file of them)
// and JWTs (one key's). Files are re-read when they change; a bad line is
// named by file and line and skipped.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Identity is who a request proved to be.
type Identity struct {
	User string // REMOTE_USER
	Type string // AUTH_TYPE: "Basic" or "Bearer"
}

// A Method checks one kind of credentials.
type Method interface {
	// Check returns the request's identity; errNoCredentials when the request
	// carries none of this kind; another error when they are wrong.
	Check(r *http.Request) (Identity, error)
	// Challenge is the WWW-Authenticate value that asks for them.
	Challenge() string
	Name() string
}

var errNoCredentials = errors.New("no credentials")

// Checker runs the configured methods; the first that accepts wins.
type Checker struct {
	Methods []Method
	// FailDelay is waited before answering wrong credentials, to slow
	// guessing. Missing credentials (a browser's first try) are not delayed.
	FailDelay time.Duration
	// Limit refuses (429) clients with too many recent failures before
	// checking anything; nil: no limit.
	Limit *FailLimit
	// Log gets Authenticate's lines (LogFailure); a caller of Check logs
	// its failures itself.
	Log *slog.Logger
}

// Failure is why a request was refused: 429 over Limit (RetryAfter says
// for how long), or 401 with what was wrong in Why ("" when the request
// carried no credentials at all).
type Failure struct {
	Status     int // 401 or 429
	Why        string
	RetryAfter time.Duration
}

func (f *Failure) Error() string {
	switch {
	case f.Status == http.StatusTooManyRequests:
		return "too many failures"
	case f.Why == "":
		return "no credentials"
	}
	return f.Why
}

// Authenticate is Check, then on a failure a log line to Log and Refuse.
func (c *Checker) Authenticate(w http.ResponseWriter, r *http.Request) *http.Request {
	authed, f := c.Check(r)
	if f != nil {
		LogFailure(c.Log, r, f)
		c.Refuse(w, r, f)
	}
	return authed
}

// Check returns the request with its identity in the context and without
// the credentials it carried, or, refused, nil and why (see Refuse).
// Everything after it (programs, CGI scripts, backends, logs) gets the
// user, never the password.
func (c *Checker) Check(r *http.Request) (*http.Request, *Failure) {
	if wait, ok := c.Limit.take(r.RemoteAddr); !ok {
		return nil, &Failure{Status: http.StatusTooManyRequests, RetryAfter: wait}
	}
	var failures []string
	for _, m := range c.Methods {
		id, err := m.Check(r)
		if err == nil {
			c.Limit.giveBack(r.RemoteAddr)
			return c.withoutCredentials(r.WithContext(context.WithValue(r.Context(), identityKey{}, id))), nil
		}
		if err != errNoCredentials {
			failures = append(failures, m.Name()+": "+err.Error())
		}
	}
	if len(failures) == 0 {
		c.Limit.giveBack(r.RemoteAddr) // no credentials at all: not a guess
	}
	return nil, &Failure{Status: http.StatusUnauthorized, Why: strings.Join(failures, "; ")}
}

// Refuse answers a request that Check refused: 429 with Retry-After, or
// 401 with the methods' challenges, after FailDelay when credentials were
// wrong (missing ones, a browser's first try, are not delayed).
func (c *Checker) Refuse(w http.ResponseWriter, r *http.Request, f *Failure) {
	if f.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		http.Error(w, "too many failed attempts: retry later", http.StatusTooManyRequests)
		return
	}
	for _, m := range c.Methods {
		w.Header().Add("WWW-Authenticate", m.Challenge())
	}
	if f.Why != "" {
		select {
		case <-time.After(c.FailDelay):
		case <-r.Context().Done():
		}
	}
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// LogFailure writes f's line: wrong credentials are a warning, missing
// ones and refusals over the limit are for debugging.
func LogFailure(log *slog.Logger, r *http.Request, f *Failure) {
	switch {
	case f.Status == http.StatusTooManyRequests:
		log.Debug("authentication refused: too many failures", "client", r.RemoteAddr, "path", r.URL.Path, "retry_after", f.RetryAfter)
	case f.Why != "":
		log.Warn("authentication failed", "client", r.RemoteAddr, "path", r.URL.Path, "why", f.Why)
	default:
		log.Debug("authentication required", "client", r.RemoteAddr, "path", r.URL.Path)
	}
}

type identityKey struct{}

// withoutCredentials is a copy of r without any credentials the methods
// read: the Authorization header, and the token's query parameter and
// cookie where a method takes the token from them. Other parameters and
// cookies stay as they were sent.
func (c *Checker) withoutCredentials(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	for _, m := range c.Methods {
		s, ok := m.(interface{ tokenSource() TokenSource })
		if !ok {
			continue
		}
		if name := s.tokenSource().Query; name != "" {
			r.URL.RawQuery = dropParam(r.URL.RawQuery, name)
			if path, query, ok := strings.Cut(r.RequestURI, "?"); ok {
				r.RequestURI = joinQuery(path, dropParam(query, name))
			}
		}
		if name := s.tokenSource().Cookie; name != "" {
			dropCookie(r.Header, name)
		}
	}
	return r
}

// dropParam removes the parameter name from a raw query, leaving the
// others untouched. A key is compared as url.ParseQuery reads it.
func dropParam(rawQuery, name string) string {
	if rawQuery == "" {
		return ""
	}
	var kept []string
	for _, kv := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		kept = append(kept, kv)
	}
	return strings.Join(kept, "&")
}

func joinQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

// dropCookie removes the cookie name from the Cookie header, leaving the
// others untouched.
func dropCookie(h http.Header, name string) {
	var lines []string
	for _, line := range h.Values("Cookie") {
		var kept []string
		for _, part := range strings.Split(line, ";") {
			if k, _, _ := strings.Cut(part, "="); strings.TrimSpace(k) != name {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
		if len(kept) > 0 {
			lines = append(lines, strings.Join(kept, "; "))
		}
	}
	h.Del("Cookie")
	for _, l := range lines {
		h.Add("Cookie", l)
	}
}

// FromContext returns the identity Authenticate found, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// equal compares secrets in constant time, whatever their lengths.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// TokenSource says where a bearer token may come from besides the
// Authorization header: a query parameter and a cookie, each off when empty.
// Browsers cannot set headers on a WebSocket handshake.
type TokenSource struct {
	Query  string
	Cookie string
}

// token finds the request's bearer token.
func (s TokenSource) token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if s.Query != "" {
		if tok := r.URL.Query().Get(s.Query); tok != "" {
			return tok
		}
	}
	if s.Cookie != "" {
		if c, err := r.Cookie(s.Cookie); err == nil {
			return c.Value
		}
	}
	return ""
}

// Basic is one user and password from the command line (--basic-auth).
type Basic struct{ User, Password string }

// ParseBasic reads "user:password".
func ParseBasic(s string) (*Basic, error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok || user == "" || pass == "" {
		return nil, fmt.Errorf("want user:password")
	}
	return &Basic{user, pass}, nil
}

func (b *Basic) Name() string      { return "basic" }
func (b *Basic) Challenge() string { return `Basic realm="wsbridge", charset="UTF-8"` }

func (b *Basic) Check(r *http.Request) (Identity, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Identity{}, errNoCredentials
	}
	// Both compared, always, so the time says nothing about which was wrong.
	if userOK, passOK := equal(user, b.User), equal(pass, b.Password); !userOK || !passOK {
		return Identity{}, fmt.Errorf("wrong user or password for %q", user)
	}
	return Identity{User: user, Type: "Basic"}, nil
}
