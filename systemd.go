package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/internal/systemd"
)

// fromSystemd is what systemd gave wsbridge: the sockets of socket
// activation, and where to say how it is doing (Type=notify).
type fromSystemd struct {
	sockets   []systemd.Socket
	notifier  *systemd.Notifier
	notifyErr error // NOTIFY_SOCKET or WATCHDOG_USEC that wsbridge cannot use
}

// takeSystemd reads and unsets systemd's variables before any program
// starts, so that none of them takes systemd's sockets or speaks for
// wsbridge.
func takeSystemd() (*fromSystemd, error) {
	var sd fromSystemd
	sd.notifier, sd.notifyErr = systemd.NewNotifier()
	var err error
	if sd.sockets, err = systemd.Listeners(); err != nil {
		return nil, cli.Exit("socket activation: "+err.Error(), exitRuntime)
	}
	return &sd, nil
}

// listeners are the sockets without their names: the command line serves
// them all.
func (sd *fromSystemd) listeners() []net.Listener {
	var ls []net.Listener
	for _, s := range sd.sockets {
		ls = append(ls, s.Listener)
	}
	return ls
}

// notify has srv tell systemd when it serves and when it stops, and keeps
// systemd's watchdog (WatchdogSec=) fed in between.
func (sd *fromSystemd) notify(srv *bridge.Server, log *slog.Logger) {
	if sd.notifyErr != nil {
		log.Warn("not telling systemd when wsbridge is ready", "err", sd.notifyErr)
	}
	n := sd.notifier
	if n == nil {
		return
	}
	warn := func(err error) {
		if err != nil {
			log.Warn("telling systemd", "err", err)
		}
	}
	watchdog, stopWatchdog := context.WithCancel(context.Background())
	srv.OnReady = func() {
		warn(n.Ready("listening on " + strings.Join(srv.URLs(), " ")))
		go func() { warn(n.Watchdog(watchdog)) }()
	}
	srv.OnStopping = func() {
		stopWatchdog()
		warn(n.Stopping("shutting down"))
	}
}

// activatedFlags are the flags that say where to listen, which systemd's
// sockets replace.
var activatedFlags = []string{"port", "address", "unixsocket", "redirport"}

// checkActivatedFlags refuses a place to listen on the command line when
// systemd passed the sockets: the user meant something that would not
// happen.
func checkActivatedFlags(c *cli.Context, sockets int) error {
	for _, name := range activatedFlags {
		if c.IsSet(name) {
			return usageError("--%s: wsbridge was socket-activated (LISTEN_FDS=%d): it serves the sockets systemd passed, so say where to listen in the socket unit (ListenStream=) instead", name, sockets)
		}
	}
	return nil
}

// useConfigSockets gives each systemd: listener of the file the sockets
// of its name. A name systemd did not pass, or a socket no listener names,
// is a usage error at its key.
func useConfigSockets(f *config.File, srv *bridge.Server, sockets []systemd.Socket) error {
	used := make([]bool, len(sockets))
	for i, l := range f.Listen {
		if l.Systemd == "" {
			continue
		}
		for j, s := range sockets {
			if s.Name == l.Systemd {
				srv.Listeners[i].Inherited = append(srv.Listeners[i].Inherited, s.Listener)
				used[j] = true
			}
		}
		if len(srv.Listeners[i].Inherited) == 0 {
			return usageError("%v", f.Errorf(fmt.Sprintf("listen[%d].systemd", i), "systemd passed no socket named %q: %s", l.Systemd, passed(sockets)))
		}
	}
	if j := slices.Index(used, false); j >= 0 {
		s := sockets[j]
		return usageError("%v", f.Errorf("listen", "systemd passed socket %q (%s) and no listener names it: add one with systemd: %s (its FileDescriptorName=)", s.Name, s.Addr(), s.Name))
	}
	return nil
}

// passed says which sockets systemd passed, for an error.
func passed(sockets []systemd.Socket) string {
	if len(sockets) == 0 {
		return "wsbridge was not socket-activated (no LISTEN_FDS)"
	}
	var names []string
	for _, s := range sockets {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	return "it passed " + strings.Join(names, ", ")
}

// checkInheritedProxy refuses a --trusted-proxy value v that no socket
// systemd passed could match: unix without a unix socket, an address
// without a TCP one.
func checkInheritedProxy(p netip.Prefix, v string, inherited []net.Listener) error {
	var unix, tcp bool
	for _, l := range inherited {
		if l.Addr().Network() == "unix" {
			unix = true
		} else {
			tcp = true
		}
	}
	switch {
	case p == bridge.UnixPeers && !unix:
		return usageError("--trusted-proxy unix: systemd passed no unix socket")
	case p != bridge.UnixPeers && !tcp:
		return usageError("--trusted-proxy %s: systemd passed only unix sockets, whose peers have no address; --trusted-proxy unix trusts them", v)
	}
	return nil
}
