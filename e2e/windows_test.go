//go:build linux

package e2e

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wine64 runs Windows programs: the Windows wsbridge.exe runs under it,
// driven from here, as it would be on a Windows machine.
const wine64 = "/usr/lib/wine/wine64"

// TestWindowsBinaryUnderWine: the Windows build serves a program through
// cmd /c and a TCP service, and its client talks to this machine's
// wsbridge. Wine runs the real wsbridge.exe; the sockets are this
// machine's.
func TestWindowsBinaryUnderWine(t *testing.T) {
	requireTool(t, wine64, "running the Windows build")
	requireTool(t, "/usr/bin/x86_64-w64-mingw32-ld", "the Wine prefix's bcryptprimitives.dll (.ci/wine-prefix)")
	dir := t.TempDir()
	exe := filepath.Join(dir, "wsbridge.exe")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = repoDir
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building wsbridge.exe: %v\n%s", err, out)
	}
	prefix := filepath.Join(dir, "prefix")
	if out, err := exec.Command(filepath.Join(repoDir, ".ci", "wine-prefix"), prefix).CombinedOutput(); err != nil {
		t.Fatalf(".ci/wine-prefix: %v\n%s", err, out)
	}
	env := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all"}
	t.Cleanup(func() { // after every instance has stopped: then the prefix can go
		kill := exec.Command("/usr/lib/wine/wineserver", "-k")
		kill.Env = append(os.Environ(), env...)
		_ = kill.Run()
	})
	serve := func(t *testing.T, args ...string) *instance {
		t.Helper()
		inst := launchCommand(t, dir, env, wine64, append([]string{exe, "--port", "0", "--logformat", "json"}, args...)...)
		if err := inst.awaitListening(); err != nil {
			t.Fatalf("%v:\n%s", err, inst.output())
		}
		return inst
	}

	t.Run("exec through cmd", func(t *testing.T) {
		inst := serve(t, "cmd", "/c", "echo hello from cmd& exit 5")
		r := readAll(t, inst.dial("/", nil))
		if len(r.texts) != 1 || strings.TrimSpace(r.texts[0]) != "hello from cmd" || r.code != 4005 {
			t.Fatalf("got %q, close %d %q; want hello from cmd, 4005 (exit 5)", r.all, r.code, r.reason)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		inst := serve(t, "--tcp", l.Addr().String())
		c := inst.dial("/", nil)
		if err := c.WriteMessage(websocket.BinaryMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var got []byte
		for len(got) < 4 {
			_, m, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			got = append(got, m...)
		}
		if string(got) != "ping" {
			t.Fatalf("echo %q, want ping", got)
		}
	})

	t.Run("client", func(t *testing.T) {
		srv := start(t, "/bin/cat")
		connect := func(name string, args ...string) string {
			cmd := exec.Command(name, append(args, "connect", srv.URL+"/")...)
			cmd.Env = append(os.Environ(), env...)
			cmd.Stdin = strings.NewReader("ping\n")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s connect: %v, out %q, stderr %s", name, err, out.String(), errOut.String())
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%s connect did not end within 60 s; out %q, stderr %s", name, out.String(), errOut.String())
			}
			return out.String()
		}
		// The Windows client prints what this machine's does.
		win, linux := connect(wine64, exe), connect(binary)
		if win != "ping" || win != linux {
			t.Fatalf("the Windows client printed %q, this machine's %q; want ping from both", win, linux)
		}
	})
}
