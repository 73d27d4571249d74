//go:build unix

package process

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

func (s Size) winsize() (*unix.Winsize, error) {
	if s.Cols < 1 || s.Rows < 1 || s.Cols > MaxSize || s.Rows > MaxSize {
		return nil, fmt.Errorf("terminal size %dx%d out of range (1 to %d)", s.Cols, s.Rows, MaxSize)
	}
	return &unix.Winsize{Col: uint16(s.Cols), Row: uint16(s.Rows)}, nil
}

// startTTY starts the program on a new pseudo-terminal, as the leader of a
// new session with the terminal as its controlling terminal.
func startTTY(spec Spec) (*Process, error) {
	ws, err := spec.TTY.winsize()
	if err != nil {
		return nil, err
	}
	master, tty, err := openPTY()
	if err != nil {
		return nil, err
	}
	if err := setSize(master, ws); err != nil {
		closeAll(master, tty)
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   spec.Path,
		Args:   append([]string{spec.Path}, spec.Args...),
		Env:    spec.Env,
		Dir:    spec.Dir,
		Stdin:  tty,
		Stdout: tty,
		Stderr: tty,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:  true,
			Setctty: true, // Ctty 0: the child's stdin
		},
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	dieWithParent(cmd.SysProcAttr)
	err = startCmd(cmd, spec.Mark)
	closeAll(tty) // the child has its own; the master reads EIO once they are all closed
	if err != nil {
		closeAll(master)
		return nil, err
	}
	p := newProcess(cmd, master, master, nil, spec)
	close(p.stderrDone)
	go p.reap()
	return p, nil
}

// openPTY opens a pseudo-terminal pair. creack/pty leaves the master in
// blocking mode (it calls Fd), where reads hold an OS thread each and
// deadlines do not work; a non-blocking duplicate goes through Go's poller.
func openPTY() (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), m.Name()), tty, nil
}

// outputPair is what a program writes its standard output to, and the end
// wsbridge reads: a pipe, or with unbuffer a pseudo-terminal in raw mode,
// its master read through Go's poller.
func outputPair(unbuffer bool) (r, w *os.File, err error) {
	if !unbuffer {
		return childPipe(true)
	}
	master, tty, err := openPTY()
	if err != nil {
		return nil, nil, err
	}
	// cfmakeraw: no CRLF for LF, no echo, no signals from characters, 8 bits
	// through: the program's bytes arrive as it wrote them.
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		closeAll(master, tty)
		return nil, nil, err
	}
	return master, tty, nil
}

// setSize sets a terminal's size through its master; the kernel tells the
// foreground process group with SIGWINCH.
func setSize(master *os.File, ws *unix.Winsize) error {
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ioErr
}

// Resize sets the size of the program's terminal. Without a terminal it is
// an error.
func (p *Process) Resize(s Size) error {
	if !p.tty {
		return fmt.Errorf("not a terminal")
	}
	ws, err := s.winsize()
	if err != nil {
		return err
	}
	return setSize(p.stdout, ws)
}

// killWait bounds how long Close waits for the killed members of a group
// or session to die: SIGKILL cannot be caught, but a process stuck in the
// kernel (on a dead NFS server) dies only when it comes out.
const killWait = 5 * time.Second
