// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary folder, without persistence, stopped when the test
// ends.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary is the server the tests run (Debian's redis-server).
const Binary = "/usr/bin/redis-server"

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Port int
	Args []string // extra arguments, such as --requirepass
	dir  string
	cmd  *exec.Cmd
	exit chan error
}

// Start starts redis-server with args, or skips the test without it (fails
// it under WSBRIDGE_REQUIRE_ALL=1, as the e2e harness's requireTool).
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatalf("%s is missing (Redis token targets) and WSBRIDGE_REQUIRE_ALL=1", Binary)
		}
		t.Skipf("%s is missing (Redis token targets); install redis-server or see .ci/run", Binary)
	}
	s := &Server{t: t, Args: args, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	// A free port may be taken between the check and redis's bind: try again.
	for try := 0; ; try++ {
		s.Port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if try == 4 {
			t.Fatal(err)
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// start runs redis-server on s.Port and waits until it answers.
func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no"}, s.Args...)
	s.cmd = exec.Command(Binary, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(s.cmd.SysProcAttr)
	out, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		return err
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exit = make(chan error, 1)
	go func(cmd *exec.Cmd, exit chan error) { exit <- cmd.Wait() }(s.cmd, s.exit)
	c := s.client(0)
	defer c.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || isAuthError(err) {
			return nil
		}
		select {
		case err := <-s.exit:
			log, _ := os.ReadFile(s.dir + "/redis.log")
			s.cmd = nil
			return fmt.Errorf("redis-server exited (%v): %s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.Stop()
	return errors.New("redis-server did not answer within 20s")
}

// isAuthError: it answers, but wants a password.
func isAuthError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Stop kills the server and waits for it; it may be called again.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.resume() // if a test paused it
	_ = s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// Pause stops the process (SIGSTOP) so that it accepts connections but
// never answers, until Resume.
func (s *Server) Pause()  { s.pause() }
func (s *Server) Resume() { s.resume() }

func (s *Server) client(db int) *redis.Client {
	var pw string
	for i, a := range s.Args {
		if a == "--requirepass" && i+1 < len(s.Args) {
			pw = s.Args[i+1]
		}
	}
	return redis.NewClient(&redis.Options{Addr: s.Addr(), DB: db, Password: pw, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
}

// Do runs one command (such as SET, in a database) and fails the test on
// an error.
func (s *Server) Do(db int, args ...any) any {
	s.t.Helper()
	c := s.client(db)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Do(ctx, args...).Result()
	if err != nil {
		s.t.Fatalf("redis %v: %v", args, err)
	}
	return v
}
