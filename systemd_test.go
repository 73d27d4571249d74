package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/internal/systemd"
)

// listenBoth is a TCP and a unix listener, closed when the test ends.
func listenBoth(t *testing.T) (tcp, unix net.Listener) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	unix, err = net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close() })
	return tcp, unix
}

// TestActivatedCommandLine: systemd's sockets are the one listener, and
// --trusted-proxy is checked against their kinds.
func TestActivatedCommandLine(t *testing.T) {
	tcp, unix := listenBoth(t)
	build := func(inherited []net.Listener, args ...string) (*bridge.Server, error) {
		var srv *bridge.Server
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		app.Action = func(c *cli.Context) (err error) {
			srv, err = buildServerOn(c, discard, inherited)
			return err
		}
		return srv, app.Run(append([]string{"wsbridge"}, args...))
	}
	srv, err := build([]net.Listener{tcp, unix}, "--trusted-proxy", "unix", "--trusted-proxy", "10.0.0.0/8", "cat")
	if err != nil {
		t.Fatal(err)
	}
	if l := srv.Listeners; len(l) != 1 || !slices.Equal(l[0].Inherited, []net.Listener{tcp, unix}) || l[0].Port != 0 || l[0].Addresses != nil {
		t.Errorf("listeners %+v, want one of the inherited sockets alone", l)
	}
	for _, tc := range []struct {
		inherited []net.Listener
		args      []string
		want      string
	}{
		{[]net.Listener{tcp}, []string{"--trusted-proxy", "unix", "cat"}, "--trusted-proxy unix: systemd passed no unix socket"},
		{[]net.Listener{unix}, []string{"--trusted-proxy", "10.0.0.0/8", "cat"}, "--trusted-proxy 10.0.0.0/8: systemd passed only unix sockets, whose peers have no address; --trusted-proxy unix trusts them"},
		{[]net.Listener{tcp}, []string{"--address", "0.0.0.0", "cat"}, "--address: wsbridge was socket-activated (LISTEN_FDS=1)"},
		{[]net.Listener{tcp}, []string{"--unixsocket", "/tmp/x", "cat"}, "--unixsocket: wsbridge was socket-activated (LISTEN_FDS=1)"},
	} {
		if _, err := build(tc.inherited, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// fileConfig loads and validates a config file's text.
func fileConfig(t *testing.T, text string) *config.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wsbridge.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestConfigSockets: each systemd: listener takes every socket of its
// name (a socket unit with two ListenStream= passes two).
func TestConfigSockets(t *testing.T) {
	tcp, unix := listenBoth(t)
	f := fileConfig(t, "listen:\n  - systemd: web\n  - port: 0\n    address: 127.0.0.1\nroutes: [{path: /, exec: {command: cat}}]\n")
	srv, err := buildConfigServer(f, discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := useConfigSockets(f, srv, []systemd.Socket{{Name: "web", Listener: tcp}, {Name: "web", Listener: unix}}); err != nil {
		t.Fatal(err)
	}
	if l := srv.Listeners; !slices.Equal(l[0].Inherited, []net.Listener{tcp, unix}) || l[1].Inherited != nil {
		t.Errorf("listeners %+v, want both sockets on the first", l)
	}
}

// TestCheckConfigSystemd: check-config says a systemd: listener is one.
func TestCheckConfigSystemd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wsbridge.yaml")
	if err := os.WriteFile(path, []byte("listen: [{systemd: web, tls: {acme: {domains: [a.example]}}}]\nroutes: [{path: /, exec: {command: cat}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "listeners:\n  systemd's sockets named web (socket activation), TLS (ACME for a.example)\nroutes:"
	if got := runApp(t, "check-config", path); !strings.Contains(got, want) {
		t.Errorf("check-config:\n%s\nwant:\n%s", got, want)
	}
}
