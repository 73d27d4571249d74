package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/config"
	"github.com/wsbridge/wsbridge/internal/systemd"
	"github.com/wsbridge/wsbridge/metrics"
)

// hangups catches SIGHUP from now on, so that a hangup (a closed terminal,
// a reload) never kills the server and its sessions. Once handle has been
// called (once), each is handled by its function, one at a time, until
// stop; one that came before waits for it. Signals that come while one is
// handled count as one more: a reload reads the file as it is by then.
func hangups() (handle func(func()), stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	handler := make(chan func(), 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var h func()
		select {
		case h = <-handler:
		case <-done:
			return
		}
		for {
			select {
			case <-hup:
				h()
			case <-done:
				return
			}
		}
	})
	handle = func(h func()) { handler <- h }
	stop = func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
	return handle, stop
}

// reloader serves the --config file anew: what the file says once it loads,
// validates and builds, and only then; on an error, what was in force stays.
type reloader struct {
	path    string
	started *config.File // the file at start: what only a restart changes comes from it
	srv     *bridge.Server
	log     *slog.Logger
	// logOf is the log's level and format for a file, after --loglevel
	// and --logformat.
	logOf   func(*config.File) [2]string
	metrics *metrics.Metrics // nil without an admin listener
	// notifier tells systemd a reload is under way, then that wsbridge is
	// ready again (with the old config after a failure); nil: no systemd.
	notifier *systemd.Notifier
}

func (rl *reloader) reload() {
	// READY=1 after a failure too: the old config is in force and serving.
	rl.warn(rl.notifier.Reloading())
	status := "reloaded " + rl.path
	defer func() { rl.warn(rl.notifier.Ready(status)) }()
	f, next, err := rl.build()
	var restart []int
	if err == nil {
		if restart, err = rl.srv.Reload(next); err != nil {
			endBuilt(next) // refused: nothing will serve it
		}
	}
	if err != nil {
		rl.log.Error("reload failed; the config in force stays", "err", err)
		status = "reload failed; the config in force stays: " + err.Error()
		return
	}
	var keys []string
	for _, i := range restart {
		if i < len(f.Listen) {
			keys = append(keys, fmt.Sprintf("listen[%d]", i))
		} else {
			keys = append(keys, fmt.Sprintf("listen[%d] (removed)", i))
		}
	}
	if f.Timeouts.Header != rl.started.Timeouts.Header {
		keys = append(keys, "timeouts.header")
	}
	if rl.logOf(f) != rl.logOf(rl.started) {
		keys = append(keys, "log")
	}
	if f.Admin != rl.started.Admin {
		keys = append(keys, "admin")
	}
	if f.Timeouts.DrainTimeout != rl.started.Timeouts.DrainTimeout || f.Timeouts.DrainDelay != rl.started.Timeouts.DrainDelay {
		keys = append(keys, "timeouts.drain_timeout, timeouts.drain_delay")
	}
	if len(keys) > 0 {
		rl.log.Warn("reload: these keys changed but need a restart; their old values stay in force", "file", rl.path, "keys", strings.Join(keys, ", "))
	}
	addRoutes(rl.metrics, next.Routes)
	routes := make([]string, len(next.Routes))
	for i, r := range next.Routes {
		routes[i] = r.Name + " " + cmp.Or(r.Path, "/")
	}
	rl.log.Info("reloaded", "file", rl.path, "routes", routes)
}

// warn logs an error telling systemd.
func (rl *reloader) warn(err error) {
	if err != nil {
		rl.log.Warn("telling systemd", "err", err)
	}
}

// build reads, validates and builds the file as at start.
func (rl *reloader) build() (*config.File, *bridge.Server, error) {
	f, err := config.Load(rl.path)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		return nil, nil, err
	}
	srv, err := buildConfigServer(f, rl.log)
	return f, srv, err
}
