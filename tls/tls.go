// Package tls builds wsbridge's TLS configurations: server certificates from
// files (re-read when they change, several chosen by SNI) or from an ACME CA
// (autocert), client certificates verified against a CA (the names are each
// route's to check), and the client side for TLS backends. Errors name the
// files (a *FileError); the caller names the flag or config key that gave them.
package tls

import (
	"crypto/sha256"
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsbridge/wsbridge/internal/filestamp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Role says what a file in a *FileError was for.
type Role int

const (
	RoleCert      Role = iota // a certificate and its key: Options.Pairs[Index], or Client's
	RoleClientCA              // Options.ClientCA
	RoleACMECache             // ACME.CacheDir
	RoleCA                    // Client.CA
)

// FileError is a file (or a certificate and its key) that cannot be used.
// It names the files, not where they were given: the caller knows that.
type FileError struct {
	Role  Role
	Index int      // the pair's, for RoleCert in Options.Pairs
	Files []string // the certificate and its key for RoleCert, else one
	Err   error    // what is wrong, without the files
}

func (e *FileError) Error() string { return strings.Join(e.Files, " / ") + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Pair is one certificate chain file and its key file (they may be one file).
type Pair struct{ Cert, Key string }

// ACME asks a CA for certificates (HTTP-01 and TLS-ALPN-01 challenges).
type ACME struct {
	Domains   []string
	CacheDir  string
	Email     string
	Directory string // the CA's directory URL; empty: Let's Encrypt
}

// Options says where the server's certificates come from and who may
// connect.
type Options struct {
	Pairs    []Pair
	ACME     *ACME
	ClientCA string // require client certificates signed by these CAs (PEM)
	Log      *slog.Logger
}

// Server is the TLS side of wsbridge's listeners.
type Server struct {
	Config *ctls.Config
	// HTTPHandler wraps the plain-HTTP (--redirport) handler so that it
	// answers ACME HTTP-01 challenges; without ACME it returns h.
	HTTPHandler func(h http.Handler) http.Handler

	opts  Options
	acme  *autocert.Manager
	mu    sync.Mutex
	certs []*ctls.Certificate // one per pair, the last good load
	stamp []string            // the files' stamps when loaded, or when a load failed
}

// NewServer loads every certificate now (an unusable one is an error that
// names its file) and returns the configuration that serves them.
func NewServer(opts Options) (*Server, error) {
	s := &Server{opts: opts, HTTPHandler: func(h http.Handler) http.Handler { return h }}
	s.certs = make([]*ctls.Certificate, len(opts.Pairs))
	s.stamp = make([]string, len(opts.Pairs))
	for i := range opts.Pairs {
		if err := s.load(i); err != nil {
			return nil, err
		}
	}
	s.Config = &ctls.Config{
		MinVersion:     ctls.VersionTLS12,
		NextProtos:     []string{"http/1.1"}, // WebSockets here run over HTTP/1.1; never offer h2
		GetCertificate: s.certificate,
	}
	if a := opts.ACME; a != nil {
		if err := os.MkdirAll(a.CacheDir, 0o700); err != nil {
			return nil, &FileError{Role: RoleACMECache, Files: []string{a.CacheDir}, Err: errors.Unwrap(err)}
		}
		s.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(a.CacheDir),
			HostPolicy: autocert.HostWhitelist(a.Domains...),
			Email:      a.Email,
			Client:     &acme.Client{DirectoryURL: a.Directory},
		}
		if opts.Log != nil {
			s.acme.Client.HTTPClient = &http.Client{Transport: &acmeProblems{next: http.DefaultTransport, log: opts.Log, logged: map[string]bool{}}}
		}
		s.Config.NextProtos = append(s.Config.NextProtos, acme.ALPNProto)
		s.HTTPHandler = func(h http.Handler) http.Handler {
			challenges := s.acme.HTTPHandler(h)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// autocert checks the Host header against the domains as it
				// is; a CA that validates on a port other than 80 names it.
				if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
					challenges.ServeHTTP(w, r)
					return
				}
				if host, _, err := net.SplitHostPort(r.Host); err == nil {
					r = r.Clone(r.Context())
					r.Host = host
				}
				// What the CA was answered: the one clue when a validation
				// fails (autocert only says "no viable challenge type").
				rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
				challenges.ServeHTTP(rec, r)
				if s.opts.Log != nil {
					s.opts.Log.Debug("ACME HTTP-01 challenge answered", "host", r.Host, "path", r.URL.Path, "status", rec.status, "client", r.RemoteAddr)
				}
			})
		}
	}
	if opts.ClientCA != "" {
		pem, err := os.ReadFile(opts.ClientCA)
		if err != nil {
			return nil, &FileError{Role: RoleClientCA, Files: []string{opts.ClientCA}, Err: errors.Unwrap(err)}
		}
		s.Config.ClientCAs = x509.NewCertPool()
		if !s.Config.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, &FileError{Role: RoleClientCA, Files: []string{opts.ClientCA}, Err: errNoPEM}
		}
		s.Config.ClientAuth = ctls.RequireAndVerifyClientCert
	}
	return s, nil
}

// load reads pair i and, if it is usable, makes it the pair's certificate.
// The stamp is noted either way, so a broken file is reported once per change.
func (s *Server) load(i int) error {
	p := s.opts.Pairs[i]
	fail := func(err error) error {
		return &FileError{Role: RoleCert, Index: i, Files: []string{p.Cert, p.Key}, Err: err}
	}
	stamp, err := filestamp.Of(p.Cert, p.Key)
	if err != nil {
		s.stamp[i] = "error: " + err.Error()
		return fail(err)
	}
	s.stamp[i] = stamp
	cert, err := ctls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return fail(err)
	}
	if err := checkValidity(cert.Leaf); err != nil {
		return fail(err)
	}
	s.certs[i] = &cert
	return nil
}

// changed says whether pair i's files differ from when they were last read.
func (s *Server) changed(i int) bool {
	p := s.opts.Pairs[i]
	stamp, err := filestamp.Of(p.Cert, p.Key)
	if err != nil {
		stamp = "error: " + err.Error()
	}
	return stamp != s.stamp[i]
}

var errNoPEM = errors.New("no PEM certificate in it")

func checkValidity(leaf *x509.Certificate) error {
	now := time.Now()
	switch {
	case leaf == nil:
		return nil
	case now.After(leaf.NotAfter):
		return fmt.Errorf("certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("certificate not valid before %s", leaf.NotBefore.Format(time.DateOnly))
	}
	return nil
}

// certificate picks the certificate for a handshake: ACME's for its domains
// and challenges, otherwise the first pair whose names match (SNI), or the
// first pair. Changed files are re-read first; a broken one keeps its old
// certificate and is logged once per change.
func (s *Server) certificate(hello *ctls.ClientHelloInfo) (*ctls.Certificate, error) {
	if s.acme != nil {
		ours := slices.Contains(s.opts.ACME.Domains, strings.ToLower(strings.TrimSuffix(hello.ServerName, ".")))
		if ours || slices.Contains(hello.SupportedProtos, acme.ALPNProto) || len(s.opts.Pairs) == 0 {
			cert, err := s.acme.GetCertificate(hello)
			if err != nil && ours {
				s.opts.Log.Error("no ACME certificate", "name", hello.ServerName, "err", err)
			} else if err != nil { // scanners, and names that are not ours
				s.opts.Log.Debug("TLS handshake for a name without a certificate", "name", hello.ServerName, "err", err)
			}
			return cert, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.opts.Pairs {
		if !s.changed(i) {
			continue
		}
		if err := s.load(i); err != nil {
			s.opts.Log.Error("certificate not reloaded; the previous one stays in use", "err", err)
		} else {
			s.opts.Log.Info("certificate reloaded", "cert", p.Cert, "not_after", s.certs[i].Leaf.NotAfter)
		}
	}
	for _, c := range s.certs {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	return s.certs[0], nil
}

// HasName reports whether host (lower case, without a port) is an ACME
// domain or a name the certificates in use are for: names the server answers
// to (wildcard certificates included).
func (s *Server) HasName(host string) bool {
	if s.opts.ACME != nil && slices.ContainsFunc(s.opts.ACME.Domains, func(d string) bool { return strings.EqualFold(d, host) }) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.certs {
		if c != nil && c.Leaf != nil && len(c.Leaf.DNSNames) > 0 && c.Leaf.VerifyHostname(host) == nil {
			return true
		}
	}
	return false
}

// ClientIdentity describes a request's verified client certificate in the
// variables Apache's mod_ssl sets; nil without one.
func ClientIdentity(cs *ctls.ConnectionState) map[string]string {
	if cs == nil || len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		return nil
	}
	c := cs.PeerCertificates[0]
	return map[string]string{
		"SSL_CLIENT_S_DN":               c.Subject.String(),
		"SSL_CLIENT_S_DN_CN":            c.Subject.CommonName,
		"SSL_CLIENT_I_DN":               c.Issuer.String(),
		"SSL_CLIENT_SERIAL":             strings.ToUpper(c.SerialNumber.Text(16)),
		"SSL_CLIENT_VERIFY":             "SUCCESS",
		"SSL_CLIENT_FINGERPRINT_SHA256": fmt.Sprintf("%X", sha256.Sum256(c.Raw)),
	}
}

// Client is the client side of TLS for wsbridge's own dials: --tcp-tls to a
// backend, and `wsbridge connect` to a wss:// server.
type Client struct {
	CA         string // verify against the CAs in this PEM file; empty: the system's roots
	ServerName string // the name the certificate must carry; empty: the dialed host's
	Cert, Key  string // a client certificate and its key (PEM), or neither
	Insecure   bool   // verify nothing (connect --insecure)
}

// ErrHalfPair is Client's error for a certificate without its key, or a key
// without its certificate.
var ErrHalfPair = errors.New("a client certificate and its key come together")

// Config loads the files and builds the crypto/tls configuration.
func (c Client) Config() (*ctls.Config, error) {
	cfg := &ctls.Config{ServerName: c.ServerName, MinVersion: ctls.VersionTLS12, InsecureSkipVerify: c.Insecure}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, &FileError{Role: RoleCA, Files: []string{c.CA}, Err: errors.Unwrap(err)}
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &FileError{Role: RoleCA, Files: []string{c.CA}, Err: errNoPEM}
		}
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, ErrHalfPair
	}
	if c.Cert != "" {
		pair, err := ctls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, &FileError{Role: RoleCert, Files: []string{c.Cert, c.Key}, Err: err}
		}
		cfg.Certificates = []ctls.Certificate{pair}
	}
	return cfg, nil
}

// statusRecorder notes the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
