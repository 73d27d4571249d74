//go:build unix

package systemd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("SYSTEMD_TEST_CHILD") == "1" {
		os.Exit(activatedChild())
	}
	goleak.VerifyTestMain(m)
}

func TestParseEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		n     int
		names []string
		err   string
	}{
		{name: "not activated", env: map[string]string{}},
		{name: "another process's", env: map[string]string{"LISTEN_PID": "99", "LISTEN_FDS": "1"}},
		{name: "unnamed", env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2"}, n: 2, names: []string{"unknown", "unknown"}},
		{name: "named", env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "web:web:"}, n: 3, names: []string{"web", "web", "unknown"}},
		{name: "none passed", env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "0"}, names: []string{}},
		{name: "bad pid", env: map[string]string{"LISTEN_PID": "me", "LISTEN_FDS": "1"}, err: `LISTEN_PID="me" is not a process id`},
		{name: "bad count", env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "-1"}, err: `LISTEN_FDS="-1" is not a number`},
		{name: "names do not match", env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b"}, err: `LISTEN_FDNAMES="a:b" names 2 sockets, LISTEN_FDS=1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, names, err := parseEnv(42, func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || n != tc.n || !slices.Equal(names, tc.names) {
				t.Fatalf("got %d %q %v, want %d %q", n, names, err, tc.n, tc.names)
			}
		})
	}
}

// dupFD is a descriptor of its own for what f holds, as systemd passes one.
func dupFD(t *testing.T, f *os.File) int {
	t.Helper()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return fd
}

func fileOf(t *testing.T, c interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func isOpen(fd int) bool {
	_, err := unixFcntl(fd)
	return !errors.Is(err, syscall.EBADF)
}

func unixFcntl(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func TestListenersServeWhatWasPassed(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	path := filepath.Join(t.TempDir(), "s")
	ux, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	fds := []int{dupFD(t, fileOf(t, tcp.(*net.TCPListener))), dupFD(t, fileOf(t, ux.(*net.UnixListener)))}
	sockets, err := listeners(fds, []string{"web", "local"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"web tcp " + tcp.Addr().String(), "local unix " + path}
	for i, s := range sockets {
		if got := fmt.Sprintf("%s %s %s", s.Name, s.Addr().Network(), s.Addr()); got != want[i] {
			t.Errorf("socket %d is %q, want %q", i, got, want[i])
		}
		// It accepts what the passed socket's clients dial.
		c, err := net.Dial(s.Addr().Network(), s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Accept()
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		c.Close()
		s.Close()
	}
}

func TestListenersRefuseWhatIsNotAListeningStreamSocket(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	conn, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, tc := range []struct {
		name string
		file *os.File
		want string
	}{
		{"pipe", r, `socket "pipe" (fd `},
		{"udp", fileOf(t, udp.(*net.UDPConn)), "not a stream socket"},
		{"conn", fileOf(t, conn.(*net.TCPConn)), "not listening: a connection (Accept=yes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := dupFD(t, fileOf(t, tcp.(*net.TCPListener)))
			bad := dupFD(t, tc.file)
			_, err := listeners([]int{good, bad}, []string{"good", tc.name})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if isOpen(good) || isOpen(bad) {
				t.Errorf("a descriptor is still open after the error")
			}
		})
	}
	if _, err := listeners([]int{dupFD(t, fileOf(t, tcp.(*net.TCPListener)))}, []string{"x"}); err != nil {
		t.Fatal(err) // sanity: the same kind of descriptor alone is fine
	}
}

// TestListenersInAnActivatedProcess passes real descriptors at fd 3 and 4
// to a child, as systemd does, with LISTEN_PID set by a shell to its own
// pid before it execs the child (the same process).
func TestListenersInAnActivatedProcess(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	ux, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	files := []*os.File{fileOf(t, tcp.(*net.TCPListener)), fileOf(t, ux.(*net.UnixListener))}
	var inodes []string
	for _, f := range files {
		defer f.Close()
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, link)
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run='^$'`, os.Args[0])
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), "SYSTEMD_TEST_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=web:local",
		"WANT_ADDRS="+tcp.Addr().String()+" "+ux.Addr().String(), "WANT_NOT_INHERITED="+strings.Join(inodes, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child ok") {
		t.Fatalf("child said:\n%s", out)
	}
}

// activatedChild is TestListenersInAnActivatedProcess's child: it takes
// the sockets, checks them and what a program it starts inherits.
func activatedChild() int {
	fail := func(format string, args ...any) int {
		fmt.Printf(format+"\n", args...)
		return 1
	}
	sockets, err := Listeners()
	if err != nil {
		return fail("Listeners: %v", err)
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if val, ok := os.LookupEnv(v); ok {
			return fail("%s=%s is still set", v, val)
		}
	}
	want := strings.Fields(os.Getenv("WANT_ADDRS"))
	if len(sockets) != 2 || sockets[0].Name != "web" || sockets[1].Name != "local" {
		return fail("sockets %v", sockets)
	}
	for i, s := range sockets {
		if s.Addr().String() != want[i] {
			return fail("socket %d at %s, want %s", i, s.Addr(), want[i])
		}
		c, err := net.Dial(s.Addr().Network(), s.Addr().String())
		if err != nil {
			return fail("dial: %v", err)
		}
		a, err := s.Accept()
		if err != nil {
			return fail("accept: %v", err)
		}
		a.Close()
		c.Close()
	}
	// A program started now holds none of the sockets.
	out, err := exec.Command("/bin/sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; true`).Output()
	if err != nil {
		return fail("listing a program's descriptors: %v", err)
	}
	for _, ino := range strings.Fields(os.Getenv("WANT_NOT_INHERITED")) {
		if strings.Contains(string(out), ino) {
			return fail("a program started later inherited %s:\n%s", ino, out)
		}
	}
	for _, s := range sockets {
		s.Close()
	}
	io.WriteString(os.Stdout, "child ok\n")
	return 0
}
