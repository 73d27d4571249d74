package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
)

func checkConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "check-config",
		Usage:     "check a config file (YAML) and print what it would serve",
		UsageText: "wsbridge check-config FILE",
		Description: "Loads FILE strictly (an unknown key, a wrong type or a duplicate key is an error) and\n" +
			"checks every value, file and program it names. On success it prints the listeners and\n" +
			"routes (path, backend, auth, origins) and exits 0; otherwise it prints one line,\n" +
			"FILE:LINE:COLUMN: KEY: what is wrong, and exits 2. The format is in the README.",
		OnUsageError: commandUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("check-config: name one config file")
			}
			f, err := config.Load(c.Args().First())
			if err == nil {
				err = f.Validate()
			}
			if err != nil {
				return usageError("%v", err)
			}
			printSummary(c.App.Writer, f)
			return nil
		},
	}
}

// printSummary writes what the file serves, for people.
func printSummary(w io.Writer, f *config.File) {
	fmt.Fprintf(w, "%s: ok\nlisteners:\n", f.Path)
	for _, l := range f.Listen {
		fmt.Fprintf(w, "  %s\n", describeListener(l))
	}
	if a := f.Admin.Address; a != "" {
		fmt.Fprintf(w, "admin: %s (/metrics, /healthz, /readyz; no auth)\n", a)
	}
	fmt.Fprintln(w, "routes:")
	for _, r := range f.Routes {
		name := ""
		if r.Name != r.Path {
			name = fmt.Sprintf(" (%s)", r.Name)
		}
		fmt.Fprintf(w, "  %s%s -> %s\n", r.Path, name, describeBackend(&r))
		fmt.Fprintf(w, "      auth: %s; origins: %s\n", describeAuth(&r.Auth), describeOrigins(r.Origins))
	}
}

func describeListener(l config.Listener) string {
	var s string
	switch {
	case l.Systemd != "":
		s = fmt.Sprintf("systemd's sockets named %s (socket activation)", l.Systemd)
	case l.Unix != "":
		s = "unix:" + l.Unix
	case l.Address == "":
		s = fmt.Sprintf("127.0.0.1:%d and [::1]:%d (loopback)", l.Port, l.Port)
	default:
		s = fmt.Sprintf("%s port %d", l.Address, l.Port)
	}
	if t := l.TLS; t != nil {
		var how []string
		if len(t.Certs) > 0 {
			how = append(how, fmt.Sprintf("%d certificate(s)", len(t.Certs)))
		}
		if t.ACME != nil {
			how = append(how, "ACME for "+strings.Join(t.ACME.Domains, ", "))
		}
		if t.ClientCA != "" {
			how = append(how, "client certificates required")
		}
		s += ", TLS (" + strings.Join(how, "; ") + ")"
	}
	if l.RedirectPort != 0 {
		s += fmt.Sprintf(", redirect from port %d", l.RedirectPort)
	}
	return s
}

func describeBackend(r *config.Route) string {
	var s string
	switch {
	case r.Exec != nil && r.Exec.Dir != "":
		s = "exec the scripts in " + r.Exec.Dir
	case r.Exec != nil:
		how := r.Exec.Framing
		if r.Exec.Unbuffer {
			how += ", unbuffered"
		}
		s = "exec " + strings.Join(append([]string{r.Exec.Command}, r.Exec.Args...), " ") + " (" + how + ")"
	case r.PTY != nil:
		s = "pty " + strings.Join(append([]string{r.PTY.Command}, r.PTY.Args...), " ") + ", terminal page"
	case r.TCP != nil:
		s = "tcp " + r.TCP.Target
	case r.Unix != nil:
		s = "unix " + r.Unix.Target
	case r.Tokens != nil && r.Tokens.Redis != "":
		s = "tokens from Redis"
		if tr, err := bridge.NewTokenRedis(r.Tokens.Redis, "", slog.New(slog.DiscardHandler)); err == nil {
			s = "tokens from " + tr.String() // never the password
			tr.Close()
		}
	case r.Tokens != nil:
		s = "tokens from " + r.Tokens.File
	}
	for _, extra := range []struct{ what, dir string }{{"static files", r.Static}, {"CGI", r.CGI}} {
		if extra.dir != "" {
			s += ", " + extra.what + " from " + extra.dir
		}
	}
	if r.DevConsole {
		s += ", dev console"
	}
	return s
}

func describeAuth(a *config.Auth) string {
	var kinds []string
	if n := len(a.Basic); n > 0 {
		kinds = append(kinds, fmt.Sprintf("basic (%d user(s))", n))
	}
	for _, k := range []struct{ what, file string }{{"htpasswd", a.Htpasswd}, {"bearer tokens", a.BearerTokenFile}} {
		if k.file != "" {
			kinds = append(kinds, k.what+" "+k.file)
		}
	}
	if a.JWT != nil {
		kinds = append(kinds, "JWT")
	}
	if len(a.ClientCN) > 0 {
		kinds = append(kinds, "client certificates of "+strings.Join(a.ClientCN, ", "))
	}
	if len(kinds) == 0 {
		return "none (anyone who reaches it)"
	}
	return strings.Join(kinds, ", ")
}

func describeOrigins(origins []string) string {
	if len(origins) == 0 {
		return "same origin only"
	}
	return "same origin and " + strings.Join(origins, ", ")
}
