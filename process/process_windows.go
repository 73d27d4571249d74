package process

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/wsbridge/wsbridge/internal/pollwait"
	"golang.org/x/sys/windows"
)

// CanUnbuffer says whether Spec.Unbuffer works here: Windows has no
// pseudo-terminal for a program's output alone (a pseudo console takes all
// three streams).
const CanUnbuffer = false

// On Windows each program runs in a Job Object of its own, which holds
// every process it starts (none may break away). The ladder closes its
// input, sends CTRL_BREAK_EVENT to its process group after Grace+100ms,
// and terminates the whole job Grace+250ms later. The job is set to kill
// on close: if wsbridge dies, Windows closes its handle and ends the lot,
// so no parent-death signal is needed.
const (
	breakWait     = 100 * time.Millisecond
	terminateWait = 250 * time.Millisecond
)

// exitTerminated is the exit code the job's processes get when it is
// terminated; Status reports it as SIGKILL, as Unix would.
const exitTerminated = 0x4000_0009

// statusControlCExit is STATUS_CONTROL_C_EXIT, how a program ends on
// CTRL_BREAK_EVENT by default; Status reports it as SIGINT.
const statusControlCExit = 0xC000013A

// Process is one running program. Read is its standard output, Write its
// standard input. Read and Write may each be used by one goroutine while
// another calls Stop, Wait or Close.
type Process struct {
	proc   *os.Process
	job    windows.Handle
	stdin  io.WriteCloser
	stdout io.ReadCloser
	pipe   *os.File // stdout's pipe, for Buffered; nil on a terminal
	stderr *os.File // our read end, nil when Spec.Stderr was given or on a terminal
	pieces bool
	con    *console // the pseudo console, nil without Spec.TTY
	grace  time.Duration

	mu         sync.Mutex
	terminated bool // the job was terminated (by the ladder, reap or Close)

	done       chan struct{}
	settled    chan struct{}
	status     Status
	stdoutEOF  chan struct{}
	eofOnce    sync.Once
	stopOnce   sync.Once
	stderrDone chan struct{}
	closeOnce  sync.Once
}

// Start starts the program in a new process group and a Job Object of its
// own, with pipes, or on a pseudo console (ConPTY) with Spec.TTY.
func Start(spec Spec) (*Process, error) {
	if spec.Unbuffer && spec.TTY == nil {
		return nil, errors.New("unbuffered output is not available on Windows")
	}
	if spec.TTY != nil {
		return startTTY(spec)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	childEnds := []*os.File{inR, outW}
	errW := spec.Stderr
	var errR *os.File
	if errW == nil {
		if errR, errW, err = os.Pipe(); err != nil {
			closeAll(inR, inW, outR, outW)
			return nil, err
		}
		childEnds = append(childEnds, errW)
	}
	cmd := command(spec)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	job, err := startInJob(cmd)
	closeAll(childEnds...)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	p := newProcess(cmd.Process, job, spec)
	p.stdin, p.stdout, p.pipe, p.stderr = inW, outR, outR, errR
	if errR != nil {
		go p.readStderr(spec.StderrLine)
	} else {
		close(p.stderrDone)
	}
	go p.reap()
	return p, nil
}

func command(spec Spec) *exec.Cmd {
	cmd := &exec.Cmd{
		Path: spec.Path,
		Args: append([]string{spec.Path}, spec.Args...),
		Env:  spec.Env,
		Dir:  spec.Dir,
	}
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean "inherit everything"
	}
	return cmd
}

func newProcess(proc *os.Process, job windows.Handle, spec Spec) *Process {
	return &Process{
		proc:       proc,
		job:        job,
		pieces:     spec.StderrPieces,
		grace:      spec.Grace,
		done:       make(chan struct{}),
		settled:    make(chan struct{}),
		stdoutEOF:  make(chan struct{}),
		stderrDone: make(chan struct{}),
	}
}

var ntResumeProcess = windows.NewLazySystemDLL("ntdll.dll").NewProc("NtResumeProcess")

// newJob makes a Job Object that kills its processes when its last handle
// closes: Close's, or wsbridge's own at its death.
func newJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, os.NewSyscallError("CreateJobObject", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, os.NewSyscallError("SetInformationJobObject", err)
	}
	return job, nil
}

// startFlags start a program suspended, until it is in its job, and in a
// process group of its own, for CTRL_BREAK_EVENT.
const startFlags = windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED

// startInJob starts cmd suspended, puts it in a new job and lets it run:
// whatever it starts is in the job from its first instruction on.
func startInJob(cmd *exec.Cmd) (windows.Handle, error) {
	job, err := newJob()
	if err != nil {
		return 0, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: startFlags}
	if err := cmd.Start(); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	if err := joinAndResume(job, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		windows.CloseHandle(job)
		return 0, err
	}
	return job, nil
}

func joinAndResume(job windows.Handle, pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_SUSPEND_RESUME, false, uint32(pid))
	if err != nil {
		return os.NewSyscallError("OpenProcess", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return os.NewSyscallError("AssignProcessToJobObject", err)
	}
	if r, _, _ := ntResumeProcess.Call(uintptr(h)); r != 0 {
		return os.NewSyscallError("NtResumeProcess", windows.NTStatus(r))
	}
	return nil
}

// reap waits for the child. If something still holds standard output open
// after the child is gone, it gets Grace+100ms to finish; then the job is
// terminated, which ends every holder and so the output.
func (p *Process) reap() {
	ps, err := p.proc.Wait()
	p.status = p.statusOf(ps, err)
	close(p.done)
	if p.con != nil {
		// The pseudo console outlives its programs: closing it flushes
		// what they wrote and ends the output.
		go p.con.hangup()
	}
	defer close(p.settled)
	t := time.NewTimer(p.grace + breakWait)
	defer t.Stop()
	select {
	case <-p.stdoutEOF:
	case <-t.C:
		p.terminate()
	}
}

// statusOf reads the job's termination as SIGKILL and a console break as
// SIGINT, so that close codes say what they say on Unix.
func (p *Process) statusOf(ps *os.ProcessState, err error) Status {
	s := statusOf(ps, err)
	p.mu.Lock()
	terminated := p.terminated
	p.mu.Unlock()
	switch {
	case s.Err != nil:
	case terminated && uint32(s.Code) == exitTerminated:
		return Status{Signal: syscall.SIGKILL}
	case uint32(s.Code) == statusControlCExit:
		return Status{Signal: syscall.SIGINT}
	}
	return s
}

// terminate ends every process of the job at once.
func (p *Process) terminate() {
	p.mu.Lock()
	p.terminated = true
	p.mu.Unlock()
	_ = windows.TerminateJobObject(p.job, exitTerminated)
}

// Read reads the program's standard output; io.EOF once every holder of
// the pipe (or the pseudo console) has closed it.
func (p *Process) Read(b []byte) (int, error) {
	n, err := p.stdout.Read(b)
	if err != nil {
		if errors.Is(err, os.ErrClosed) || errors.Is(err, windows.ERROR_BROKEN_PIPE) {
			err = io.EOF
		}
		if err == io.EOF {
			p.eofOnce.Do(func() { close(p.stdoutEOF) })
		}
	}
	return n, err
}

// WaitRead returns at once: an anonymous pipe cannot be waited on without
// reading it, so on Windows the read waits, holding its buffer.
func (p *Process) WaitRead() error { return nil }

// Buffered is how many bytes of output wait to be read now.
func (p *Process) Buffered() int {
	if p.pipe == nil {
		return 0
	}
	return pollwait.Buffered(p.pipe.Fd())
}

// Write writes to the program's standard input. It blocks while the program
// does not read.
func (p *Process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// CloseWrite closes standard input: the program reads EOF. A pseudo
// console has no end of input; there it does nothing.
func (p *Process) CloseWrite() error {
	if p.con != nil {
		return nil
	}
	return p.stdin.Close()
}

// Pid is the child's process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.proc.Pid }

// Done is closed once the child has been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// StderrDone is closed once stderr has been read to its end.
func (p *Process) StderrDone() <-chan struct{} { return p.stderrDone }

// Wait blocks until the child is gone and what it left holding its output
// has been ended, and says how the child ended.
func (p *Process) Wait() Status {
	<-p.settled
	return p.status
}

// Stop asks the program to end: its input is closed (a pseudo console is
// closed, which ends its programs), then the ladder: CTRL_BREAK_EVENT to
// its process group after Grace+100ms, and the job terminated Grace+250ms
// later. Stop returns at once; use Wait to learn when the child is gone.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		if p.con != nil {
			go p.con.hangup() // it may wait for its output to be read
		} else {
			_ = p.CloseWrite()
		}
		go p.climbLadder()
	})
}

func (p *Process) climbLadder() {
	steps := []struct {
		wait time.Duration
		do   func()
	}{
		{breakWait, func() { _ = windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid())) }},
		{terminateWait, p.terminate},
	}
	for _, step := range steps {
		t := time.NewTimer(p.grace + step.wait)
		select {
		case <-p.done:
			t.Stop()
			return
		case <-t.C:
		}
		step.do()
	}
}

// Close ends the program if it still runs (the ladder, as Stop), waits for
// it, terminates what is left of its job and releases every handle. It is
// safe to call more than once.
func (p *Process) Close() error {
	p.Stop()
	<-p.done
	p.closeOnce.Do(func() {
		p.terminate()
		windows.CloseHandle(p.job)
		// Our ends first: a pseudo console that still has output to
		// write is not waited for.
		_ = p.stdin.Close()
		_ = p.stdout.Close()
		if p.con != nil {
			p.con.close()
		}
		p.eofOnce.Do(func() { close(p.stdoutEOF) })
	})
	<-p.stderrDone
	return nil
}

// readStderr hands stderr to fn a line at a time, bounded, until every
// holder of the pipe has closed it (the job's end closes it at the latest).
func (p *Process) readStderr(fn func(string, bool)) {
	defer close(p.stderrDone)
	defer p.stderr.Close()
	scanStderr(p.stderr, fn, p.pieces)
}

// Subreaper is not needed on Windows: a program's descendants are in its
// Job Object, which Close terminates, wherever they went.
func Subreaper() (stop func(), err error) { return func() {}, nil }
