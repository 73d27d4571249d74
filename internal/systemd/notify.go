package systemd

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier tells systemd how the service is doing (sd_notify(3)). A nil
// Notifier, what NewNotifier returns outside a Type=notify service, does
// nothing, so callers need not check.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // WATCHDOG_USEC: send WATCHDOG=1 at half of it; 0: none
}

// NewNotifier reads NOTIFY_SOCKET (a path, or "@name" for an abstract
// socket) and WATCHDOG_USEC, and unsets them and WATCHDOG_PID so that
// programs started later do not speak for wsbridge. It returns nil when
// NOTIFY_SOCKET is unset.
func NewNotifier() (*Notifier, error) {
	addr, usec, wpid := os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		os.Unsetenv(v)
	}
	if addr == "" {
		return nil, nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: only a socket path or an @abstract name is supported", addr)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: addr, Net: "unixgram"}} // Go makes "@" the abstract namespace's NUL
	if usec != "" && (wpid == "" || wpid == strconv.Itoa(os.Getpid())) {
		us, err := strconv.ParseInt(usec, 10, 64)
		if err != nil || us <= 0 {
			return nil, fmt.Errorf("WATCHDOG_USEC=%q is not a number of microseconds", usec)
		}
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	return n, nil
}

// Notify sends state: newline-separated VARIABLE=VALUE assignments.
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// Ready says the service serves (READY=1), with a status line for
// systemctl status; after a reload, it says the reload is done.
func (n *Notifier) Ready(status string) error {
	return n.Notify(withStatus("READY=1", status))
}

// Reloading says a reload began (Type=notify-reload's RELOADING=1, with
// the CLOCK_MONOTONIC time systemd requires); send Ready when it is done.
func (n *Notifier) Reloading() error {
	if n == nil {
		return nil
	}
	usec, err := monotonicMicros()
	if err != nil {
		return err
	}
	return n.Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Stopping says shutdown began (STOPPING=1).
func (n *Notifier) Stopping(status string) error {
	return n.Notify(withStatus("STOPPING=1", status))
}

// Watchdog sends WATCHDOG=1 at half of WATCHDOG_USEC (WatchdogSec=) until
// ctx is done; without a watchdog it returns at once.
func (n *Notifier) Watchdog(ctx context.Context) error {
	if n == nil || n.watchdog == 0 {
		return nil
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		if err := n.Notify("WATCHDOG=1"); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func withStatus(state, status string) string {
	if status == "" {
		return state
	}
	return state + "\nSTATUS=" + strings.ReplaceAll(status, "\n", " ")
}
