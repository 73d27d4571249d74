package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wsbridge/wsbridge/auth"
	"github.com/wsbridge/wsbridge/bridge"
	wstls "github.com/wsbridge/wsbridge/tls"
)

// The constructors the command line (main.go) and the config file
// (serve_config.go) share. They take plain values, never a flag, so that
// both paths build the same server from the same settings; the callers
// check the values and name the flag or the key when one is wrong.

// letsEncrypt is the ACME CA's directory unless one is given.
const letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// newProgram is what exec and pty share; the caller sets the command or
// the folder, and the per-route switches. HTTPS=on comes from each
// request's listener.
func newProgram(log *slog.Logger, grace time.Duration, passNames []string) bridge.Program {
	v := buildVersion()
	return bridge.Program{
		BaseEnv:        bridge.PassEnv(passNames),
		ServerSoftware: "wsbridge/" + v,
		Grace:          grace,
		Log:            log,
	}
}

// newPty runs prog on a terminal of its own, with a login's environment.
func newPty(prog bridge.Program) *bridge.Pty {
	return &bridge.Pty{Program: prog, LoginEnv: bridge.LoginEnv()}
}

// newDial is a dialing backend without its target. A backend gets a second
// more than a program to finish its reply after the client leaves.
func newDial(log *slog.Logger, grace, timeout time.Duration) *bridge.Dial {
	return &bridge.Dial{Grace: time.Second + grace, Timeout: timeout, Log: log}
}

// dialSubprotocols: websockify's clients send bytes in binary messages and
// may offer "binary"; a dialing route echoes it back.
func dialSubprotocols(extra []string) []string {
	return append([]string{"binary"}, extra...)
}

// allowHostTokens lets the Host names of d's host tokens in.
func allowHostTokens(hosts *bridge.HostPolicy, d *bridge.Dial) {
	if !d.HostToken {
		return
	}
	hosts.HostTokens = true
	hosts.Also = append(hosts.Also, bridge.HostSource{What: "host tokens", Has: func(h string) bool {
		_, err := d.Tokens.Target(context.Background(), h, true)
		return err == nil
	}})
}

// newChecker is the auth every request of a route passes; nil without methods.
func newChecker(methods []auth.Method, delay time.Duration, limit int, log *slog.Logger) *auth.Checker {
	if len(methods) == 0 {
		return nil
	}
	checker := &auth.Checker{Methods: methods, FailDelay: delay, Log: log}
	if limit > 0 {
		checker.Limit = &auth.FailLimit{Max: limit, Window: time.Minute}
	}
	return checker
}

// acmeCache is dir, or by default the user's cache dir/wsbridge/acme.
func acmeCache(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "wsbridge", "acme"), nil
}

// useTLS serves srv's listener l with t (nil: plain HTTP), and answers t's
// names on every listener.
func useTLS(srv *bridge.Server, l *bridge.Listener, t *wstls.Server) {
	if t == nil {
		return
	}
	l.TLS, l.RedirHandler = t.Config, t.HTTPHandler
	srv.Hosts.Also = append(srv.Hosts.Also, bridge.HostSource{What: "certificate names and ACME domains", Has: t.HasName})
}

// shutdownGrace bounds shutdown after the signal ladder of grace: its
// length, and then some.
func shutdownGrace(grace time.Duration) time.Duration { return 3*grace + 5*time.Second }

// cgiSoftware is CGI scripts' SERVER_SOFTWARE.
func cgiSoftware() string { return "wsbridge/" + versionString() }
