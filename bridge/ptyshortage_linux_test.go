package bridge

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/web"
)

// ptyShortageChild is set in the environment of the test binary that
// TestPTYShortage runs in a mount namespace of its own.
const ptyShortageChild = "WSBRIDGE_TEST_PTY_SHORTAGE"

// TestPTYShortage: a program that cannot start because no pseudo-terminal
// is left (--unbuffer's stdout) is refused 503 with Retry-After, as other
// shortages are, not 500: it is a shortage that passes. The shortage is
// real: the test binary runs again in a mount namespace of its own, where
// /dev/pts is a devpts of its own with room for two terminals, both taken
// (so opening /dev/ptmx fails with ENOSPC, as at kernel.pty.max). That
// needs root (fails under WSBRIDGE_REQUIRE_ALL=1 without it).
func TestPTYShortage(t *testing.T) {
	if os.Getenv(ptyShortageChild) == "" {
		runInMountNamespace(t)
		return
	}
	if err := syscall.Mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666,max=2"); err != nil {
		t.Skipf("cannot mount a devpts of its own: %v", err) // the parent says why
	}
	if err := syscall.Mount("/dev/pts/ptmx", "/dev/ptmx", "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if errors.Is(err, syscall.ENOSPC) && i == 2 {
			break
		}
		if err != nil || i == 2 {
			t.Fatalf("terminal %d of a devpts with max=2: %v, want two and then ENOSPC", i+1, err)
		}
		defer f.Close()
	}

	addr, _ := serve(t, func(s *Server) { s.Routes[0].Backend.(*Exec).Unbuffer = true })
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err == nil {
		c.Close()
		t.Fatal("the handshake succeeded with no pseudo-terminal left")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		status := "no answer"
		if resp != nil {
			status = resp.Status + ", Retry-After " + resp.Header.Get("Retry-After")
		}
		t.Fatalf("handshake: %v (%s), want 503 with Retry-After: 1", err, status)
	}

	// A terminal starts after the upgrade, at its first size: it ends with
	// 1013, try again later.
	addr, _ = serve(t, func(s *Server) {
		s.Routes[0].Backend = &Pty{Program: Program{Command: "/bin/sh", Log: s.Log}}
		s.Routes[0].Framing, s.Routes[0].Terminal = Terminal, &web.Terminal{}
	})
	c, _, err = websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"size","cols":80,"rows":24}`)); err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, _, err = c.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		t.Fatalf("the terminal ended with %v, want close 1013 (try again later)", err)
	}
}

// runInMountNamespace runs TestPTYShortage again, in a mount namespace of
// its own (made private from /, so nothing it mounts is seen here).
func runInMountNamespace(t *testing.T) {
	why := ""
	if os.Geteuid() != 0 {
		why = "a mount namespace and a devpts of its own need root"
	}
	var out []byte
	if why == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPTYShortage$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), ptyShortageChild+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		var err error
		out, err = cmd.CombinedOutput()
		switch {
		case err != nil && strings.Contains(err.Error(), "operation not permitted"):
			why = "cannot make a mount namespace: " + err.Error()
		case err != nil:
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		case strings.Contains(string(out), "--- SKIP"):
			why = "in a mount namespace of its own:\n" + string(out)
		case !strings.Contains(string(out), "--- PASS: TestPTYShortage"):
			t.Fatalf("in a mount namespace of its own, no pass:\n%s", out)
		}
	}
	if why != "" {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatalf("%s, and WSBRIDGE_REQUIRE_ALL=1", why)
		}
		t.Skip(why)
	}
}
