//go:build unix

package process

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/internal/pollwait"
)

// CanUnbuffer says whether Spec.Unbuffer works here: it does on every unix.
const CanUnbuffer = true

// Steps of the signal ladder, as websocketd has them: each signal waits for
// its step's time plus Grace after the step before. Stop closes stdin (on a
// terminal: sends SIGHUP, as a hangup does), sends SIGINT after Grace+100ms,
// SIGTERM Grace+250ms later and SIGKILL Grace+500ms after that, always to the
// whole process group.
var ladder = []struct {
	sig  syscall.Signal
	wait time.Duration
}{
	{syscall.SIGINT, 100 * time.Millisecond},
	{syscall.SIGTERM, 250 * time.Millisecond},
	{syscall.SIGKILL, 500 * time.Millisecond},
}

// Process is one running program. Read is its standard output, Write its
// standard input. Read and Write may each be used by one goroutine while
// another calls Stop, Wait or Close.
type Process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File // on a terminal, the same file as stdin: its master side
	out    syscall.RawConn
	outTTY bool     // stdout is a terminal's master side (TTY or Unbuffer), not a pipe
	stderr *os.File // our read end, nil when Spec.Stderr was given or on a terminal
	pieces bool     // Spec.StderrPieces
	tty    bool
	mark   string
	grown  bool        // stdout's pipe was grown (used by Read only)
	reader outReader   // Read's state
	cut    atomic.Bool // reap ended the output: Read takes what is left, then EOF
	grace  time.Duration

	done       chan struct{} // closed once the child is reaped
	settled    chan struct{} // closed once reap has also dealt with what the child left
	status     Status
	stdoutEOF  chan struct{} // closed when Read has seen the end of output
	eofOnce    sync.Once
	stopOnce   sync.Once
	ladderMu   sync.Mutex
	ladderStep *time.Timer // the ladder's next signal, once Stop has begun it
	exited     bool        // the child has exited: no more signals from the ladder
	held       bool        // the child exited and is not reaped yet (Linux): Close reaps it
	reapOnce   sync.Once
	stderrDone chan struct{} // closed when the stderr reader has finished
	closeOnce  sync.Once
}

// Start starts the program in a new process group. On Linux and FreeBSD the
// child is killed if wsbridge dies.
func Start(spec Spec) (*Process, error) {
	if spec.TTY != nil {
		return startTTY(spec)
	}
	inW, inR, err := childPipe(false)
	if err != nil {
		return nil, err
	}
	outR, outW, err := outputPair(spec.Unbuffer)
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	childEnds := []*os.File{inR, outW}
	errW := spec.Stderr
	var errR *os.File
	if errW == nil {
		if errR, errW, err = childPipe(true); err != nil {
			closeAll(inR, inW, outR, outW)
			return nil, err
		}
		childEnds = append(childEnds, errW)
	}

	cmd := &exec.Cmd{
		Path:        spec.Path,
		Args:        append([]string{spec.Path}, spec.Args...),
		Env:         spec.Env,
		Dir:         spec.Dir,
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean "inherit everything"
	}
	dieWithParent(cmd.SysProcAttr)
	err = startCmd(cmd, spec.Mark)
	closeAll(childEnds...) // the child has its own copies now
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}

	p := newProcess(cmd, inW, outR, errR, spec)
	if errR != nil {
		go p.readStderr(spec.StderrLine)
	} else {
		close(p.stderrDone)
	}
	go p.reap()
	return p, nil
}

// startCmd starts cmd and registers the child before the Subreaper's
// sweeper can see it.
func startCmd(cmd *exec.Cmd, mark string) error {
	children.starting.RLock()
	defer children.starting.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	register(cmd.Process.Pid, mark)
	return nil
}

func newProcess(cmd *exec.Cmd, stdin, stdout, stderr *os.File, spec Spec) *Process {
	out, _ := stdout.SyscallConn() // a pipe or a terminal: never fails
	// The child has its environment, arguments, attributes and its ends of
	// the pipes (closed since): the Process keeps cmd for as long as the
	// session lasts (for Wait), so let them go (a CGI environment is about
	// a kilobyte per idle session, the closed files 400 bytes).
	cmd.Env, cmd.Args, cmd.SysProcAttr = nil, nil, nil
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	p := &Process{
		out:        out,
		cmd:        cmd,
		stdin:      stdin,
		stdout:     stdout,
		stderr:     stderr,
		tty:        spec.TTY != nil,
		outTTY:     spec.TTY != nil || spec.Unbuffer,
		pieces:     spec.StderrPieces,
		mark:       spec.Mark,
		grace:      spec.Grace,
		done:       make(chan struct{}),
		settled:    make(chan struct{}),
		stdoutEOF:  make(chan struct{}),
		stderrDone: make(chan struct{}),
	}
	p.reader.tty = p.tty
	p.reader.fill = p.reader.read
	return p
}

// reap waits for the child to exit. If a grandchild still holds standard
// output open after the child is gone, it gets Grace+100ms to finish; then
// the group is killed and reading ends once the pipe is empty, so a
// background job can't hold the session open and a slow reader still gets
// everything written. Reading stderr ends soon after, whoever still holds it.
//
// On Linux the child is left a zombie until Close: while it is not reaped,
// its pid (which is its group's and its session's id) cannot be reused, so
// every group or session kill, the ladder's, this one and Close's, reaches
// only what is left of the program, never an unrelated process that was
// given the same number. Elsewhere the child is reaped here.
func (p *Process) reap() {
	st, held := awaitExit(p.cmd.Process.Pid)
	p.stopLadder()
	if !held {
		st = p.reapChild()
	}
	p.status, p.held = st, held
	close(p.done)
	defer close(p.settled)

	select {
	case <-p.stdoutEOF: // most often: no timer
	default:
		p.awaitOutputEnd()
	}
	if p.stderr != nil {
		_ = p.stderr.SetReadDeadline(time.Now().Add(ladder[0].wait))
	}
}

// awaitOutputEnd gives what holds the output after the child is gone
// Grace+100ms to end it, then kills the group and cuts the output.
func (p *Process) awaitOutputEnd() {
	t := time.NewTimer(p.grace + ladder[0].wait)
	defer t.Stop()
	select {
	case <-p.stdoutEOF:
	case <-t.C:
		p.killAll()
		// A grandchild that left the group (setsid) may still hold the pipe:
		// once what is in it has been read, output is over. The deadline
		// wakes a reader that waits.
		p.cut.Store(true)
		_ = p.stdout.SetReadDeadline(time.Now())
	}
}

// Read reads the program's standard output. It returns io.EOF once every
// holder of the pipe (or terminal) has closed it, or once reap has cut the
// output (the program is gone, something else holds the pipe) and what was
// in the pipe has been read: a slow client still gets all of it.
func (p *Process) Read(b []byte) (int, error) {
	var n int
	var err error
	for {
		if p.cut.Load() {
			// Take what is left, and no more: a read that would wait ends.
			_ = p.stdout.SetReadDeadline(time.Time{})
			if !p.pending() {
				err = io.EOF
				break
			}
		}
		n, err = p.readAvailable(b)
		// The cut's deadline may wake a read that waits: look again.
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !p.cut.Load() {
			break
		}
	}
	if n >= pipeSize/2 && !p.outTTY && !p.grown {
		p.growPipe()
	}
	if err != nil {
		// A terminal's master reads EIO once no process holds the terminal.
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO) {
			err = io.EOF
		}
		if err == io.EOF {
			p.eofOnce.Do(func() { close(p.stdoutEOF) })
		}
	}
	return n, err
}

// WaitRead returns once output (or its end) is there to read, without
// reading it.
func (p *Process) WaitRead() error {
	if p.cut.Load() {
		return nil // no more waiting: Read says what is left
	}
	return pollwait.RawReadable(p.out)
}

// Buffered is how many bytes of output wait to be read now.
func (p *Process) Buffered() int { return p.unread() }

// unread is how many bytes wait in the output pipe (or terminal).
func (p *Process) unread() int {
	n := 0
	_ = p.out.Control(func(fd uintptr) { n = pollwait.Buffered(fd) })
	return n
}

// pending says whether output waits to be read. A terminal's count
// (TIOCINQ) leaves out what the kernel has not yet moved to its read
// buffer; a poll moves it, so no byte the program wrote is missed.
func (p *Process) pending() bool {
	if p.unread() > 0 {
		return true
	}
	ready := false
	if p.outTTY {
		_ = p.out.Control(func(fd uintptr) { ready = pollwait.Ready(fd) })
	}
	return ready
}

// readAvailable waits for output, then reads what else is already there,
// so that a burst goes out in fewer, larger messages (a terminal hands out
// at most 4 KiB a read, a pipe its 64 KiB).
func (p *Process) readAvailable(b []byte) (int, error) {
	r := &p.reader
	r.b, r.n, r.err = b, 0, nil
	err := p.out.Read(r.fill)
	n, rerr := r.n, r.err
	r.b = nil // the caller's buffer is not ours to keep
	if n > 0 {
		return n, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, rerr
}

// outReader is readAvailable's state. It lives in the Process (one
// goroutine reads at a time) with fill made once: a closure per read would
// allocate its variables on every message.
type outReader struct {
	b    []byte
	n    int
	err  error
	tty  bool
	fill func(fd uintptr) bool // read, made by newProcess
}

// read is the poller's callback: it reads into b until b is full or
// nothing more waits, and says whether to stop waiting.
func (r *outReader) read(fd uintptr) bool {
	for r.n < len(r.b) {
		k, e := syscall.Read(int(fd), r.b[r.n:])
		switch {
		case k > 0:
			r.n += k
			if !r.tty && r.n < len(r.b) {
				// A pipe's read takes all there is: one short read means
				// it is empty now, and asking again only costs a syscall.
				return true
			}
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return r.n > 0
		case e != nil:
			r.err = e
			return true
		default:
			r.err = io.EOF
			return true
		}
	}
	return true
}

// pipeSize is a pipe's capacity, unless grown; bigPipe is what a program
// gets whose output fills half of it in one read: bulk output then goes out
// in larger messages (exec download 1.3 -> 1.6 GB/s). Only busy programs get
// one: it is kernel memory, and an unprivileged user's pipes share a limit.
const (
	pipeSize = 64 << 10
	bigPipe  = 1 << 20
)

// growPipe gives standard output a bigger pipe, if the kernel allows.
func (p *Process) growPipe() {
	p.grown = true
	_ = p.out.Control(func(fd uintptr) { setPipeSize(fd, bigPipe) })
}

// Write writes to the program's standard input. It blocks while the program
// does not read, which is the backpressure the bridge relies on.
func (p *Process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// CloseWrite closes standard input: the program reads EOF. A terminal has no
// end of input short of a hangup, which Stop sends; here it does nothing.
func (p *Process) CloseWrite() error {
	if p.tty {
		return nil
	}
	return p.stdin.Close()
}

// Pid is the child's process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited (see reap: on Linux Close reaps it).
func (p *Process) Done() <-chan struct{} { return p.done }

// StderrDone is closed once stderr has been read to its end (or cut, after
// the child is gone): StderrLine is not called again.
func (p *Process) StderrDone() <-chan struct{} { return p.stderrDone }

// Wait blocks until the child has exited, and what it left holding its
// output has been ended (killed, dead and reaped: see reap), and says how the
// child ended. So whoever reports the end reports it once nothing of the
// program runs on its output any more.
func (p *Process) Wait() Status {
	<-p.settled
	return p.status
}

// Stop asks the program to end: its input is closed, and if it is still
// running after Grace the ladder signals the whole group. Stop returns at once;
// use Wait to learn when the child is gone.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		if p.tty {
			p.killGroup(syscall.SIGHUP)
		} else {
			_ = p.CloseWrite()
		}
		p.climbLadder(0)
	})
}

// climbLadder arms the ladder's step i: a timer, not a goroutine that
// waits, since most programs end on their own before the first signal.
// reap stops it.
func (p *Process) climbLadder(i int) {
	p.ladderMu.Lock()
	defer p.ladderMu.Unlock()
	if p.exited {
		return
	}
	step := ladder[i]
	p.ladderStep = time.AfterFunc(p.grace+step.wait, func() {
		// The kill is made under the lock, so that none comes after
		// stopLadder, and so none after the child is reaped.
		p.ladderMu.Lock()
		exited := p.exited
		if !exited {
			p.killGroup(step.sig)
		}
		p.ladderMu.Unlock()
		if !exited && i+1 < len(ladder) {
			p.climbLadder(i + 1)
		}
	})
}

// stopLadder stops the ladder once the child has exited: what is left of
// its group is reap's and Close's to end.
func (p *Process) stopLadder() {
	p.ladderMu.Lock()
	defer p.ladderMu.Unlock()
	p.exited = true
	if p.ladderStep != nil {
		p.ladderStep.Stop()
	}
}

// Close ends the program if it still runs (the ladder, as Stop), waits for it,
// kills whatever is left of its process group (on a terminal: of its session)
// and, with the Subreaper, the orphans that carry its Mark, and releases every
// descriptor. It is safe to call more than once.
func (p *Process) Close() error {
	p.Stop()
	<-p.done
	// reap's kill of what holds the output after the child (its timer) is
	// made now or never: before the child is reaped, its pid no other's.
	p.eofOnce.Do(func() { close(p.stdoutEOF) })
	<-p.settled
	p.closeOnce.Do(func() {
		p.killHeld()
		// One sweep for both: the members wsbridge adopted, killed above,
		// are reaped, and what escaped the group or session with the mark
		// is killed (a sweep costs a read of every thread's children file).
		closed(p.mark)
		closeAll(p.stdin, p.stdout)
	})
	<-p.stderrDone
	return nil
}

// killHeld kills what is left of the program, then reaps the child if reap
// left it a zombie: while it is, its pid holds the group's and session's ids
// (see reap). A terminal's session is looked for in /proc in any case: that
// is done first. A group is killed at once; once the child is reaped, the
// group is empty (ESRCH) unless members killed a moment ago are still dying,
// and awaitGroupGone waits for those, signalling nothing: the number may be
// another's by then.
func (p *Process) killHeld() {
	if !p.held {
		p.killMembers()
		return
	}
	if p.tty {
		p.killMembers()
		p.reapChild()
		return
	}
	p.killGroup(syscall.SIGKILL)
	p.reapChild()
	awaitGroupGone(p.cmd.Process.Pid)
}

// reapChild reaps the child (once) and says how it ended.
func (p *Process) reapChild() Status {
	var st Status
	p.reapOnce.Do(func() {
		err := p.cmd.Wait()
		reaped(p.cmd.Process.Pid)
		st = statusOf(p.cmd.ProcessState, err)
	})
	return st
}

// killGroup signals every process in the child's group. The group outlives
// its leader while any member is alive; ESRCH just means nothing is left.
func (p *Process) killGroup(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// killAll kills what is left of the program: its process group or, on a
// terminal, its whole session, where a shell's jobs have groups of their own;
// it returns once each of them has died.
func (p *Process) killAll() {
	p.killMembers()
	reapOrphans() // those of them wsbridge adopted: no zombie is left
}

// killMembers is killAll without the sweep that reaps the adopted ones.
func (p *Process) killMembers() {
	if p.tty {
		p.killGroup(syscall.SIGKILL)
		killSession(p.cmd.Process.Pid)
	} else {
		killGroupAwaiting(p.cmd.Process.Pid)
	}
}

// readStderr hands stderr to fn a line at a time, bounded, until every holder
// of the pipe has closed it or reap's deadline ends it.
func (p *Process) readStderr(fn func(string, bool)) {
	defer close(p.stderrDone)
	defer p.stderr.Close()
	// Most programs never write to stderr: take the buffer once they do.
	if pollwait.Readable(p.stderr) != nil {
		return // reap's deadline: nothing came
	}
	// Readable with nothing in the pipe is its end: every writer closed it.
	// Most sessions end so, and need no buffer for it.
	if rc, err := p.stderr.SyscallConn(); err == nil {
		empty := false
		_ = rc.Control(func(fd uintptr) { empty = pollwait.Buffered(fd) == 0 })
		if empty {
			return
		}
	}
	scanStderr(&stderrReader{f: p.stderr}, fn, p.pieces)
}

// stderrReader reads stderr until reap's deadline, then only what is in
// the pipe at that moment: a descendant that holds stderr open holds up
// nothing, and what the program wrote is not lost to a slow StderrLine.
type stderrReader struct {
	f    *os.File
	cut  bool // the deadline has passed
	left int  // with cut, what is left to read
}

func (r *stderrReader) Read(b []byte) (int, error) {
	if !r.cut {
		n, err := r.f.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		r.cut = true
		if rc, err := r.f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { r.left = pollwait.Buffered(fd) })
		}
		_ = r.f.SetReadDeadline(time.Time{}) // the bytes are there: no read waits
	}
	if r.left <= 0 {
		return 0, io.EOF
	}
	n, err := r.f.Read(b[:min(len(b), r.left)])
	r.left -= n
	return n, err
}
