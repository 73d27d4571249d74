//go:build unix

package systemd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenNotify is systemd's end: a datagram socket at addr.
func listenNotify(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func monotonicUsec(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

func TestNotify(t *testing.T) {
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "notify"),
		fmt.Sprintf("@wsbridge-notify-test-%d", os.Getpid()), // abstract
	} {
		t.Run(addr[:1], func(t *testing.T) {
			sd := listenNotify(t, addr)
			t.Setenv("NOTIFY_SOCKET", addr)
			n, err := NewNotifier()
			if err != nil || n == nil {
				t.Fatalf("NewNotifier: %v %v", n, err)
			}
			if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
				t.Fatalf("NOTIFY_SOCKET=%s is still set: programs started later would speak for wsbridge", v)
			}
			if err := n.Ready("listening on\nws://x/"); err != nil {
				t.Fatal(err)
			}
			if got, want := receive(t, sd), "READY=1\nSTATUS=listening on ws://x/"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}

			before := monotonicUsec(t)
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			after := monotonicUsec(t)
			got := receive(t, sd)
			usec, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
			if v, err := strconv.ParseInt(usec, 10, 64); !ok || err != nil || v < before || v > after {
				t.Errorf("got %q, want RELOADING=1 and MONOTONIC_USEC from %d to %d", got, before, after)
			}

			if err := n.Stopping(""); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, sd); got != "STOPPING=1" {
				t.Errorf("got %q, want STOPPING=1", got)
			}
		})
	}
}

func TestNotifyWatchdog(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	sd := listenNotify(t, addr)
	t.Setenv("NOTIFY_SOCKET", addr)
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n, err := NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s is still set", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Watchdog(ctx) }()
	for range 3 {
		if got := receive(t, sd); got != "WATCHDOG=1" {
			t.Errorf("got %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	n, err := NewNotifier()
	if n != nil || err != nil {
		t.Fatalf("got %v %v, want nil: not under systemd", n, err)
	}
	// A nil Notifier does nothing, so callers need not check.
	if n.Ready("x") != nil || n.Reloading() != nil || n.Stopping("") != nil || n.Watchdog(context.Background()) != nil {
		t.Fatal("a nil Notifier failed")
	}

	// Another process's watchdog is not ours.
	t.Setenv("NOTIFY_SOCKET", "/run/x")
	t.Setenv("WATCHDOG_USEC", "1000")
	t.Setenv("WATCHDOG_PID", "1")
	if n, err = NewNotifier(); err != nil || n.watchdog != 0 {
		t.Fatalf("got %v %v, want no watchdog", n, err)
	}

	for _, tc := range []struct{ socket, usec, want string }{
		{"vsock:2:1234", "", `NOTIFY_SOCKET="vsock:2:1234": only a socket path or an @abstract name is supported`},
		{"/run/x", "soon", `WATCHDOG_USEC="soon" is not a number of microseconds`},
	} {
		t.Setenv("NOTIFY_SOCKET", tc.socket)
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", "")
		if _, err := NewNotifier(); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
