package process

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// maxConsoleSize bounds either side of a pseudo console: a COORD is 16 bits, signed.
const maxConsoleSize = 0x7fff

func (s Size) coord() (windows.Coord, error) {
	if s.Cols < 1 || s.Rows < 1 || s.Cols > maxConsoleSize || s.Rows > maxConsoleSize {
		return windows.Coord{}, fmt.Errorf("terminal size %dx%d out of range (1 to %d)", s.Cols, s.Rows, maxConsoleSize)
	}
	return windows.Coord{X: int16(s.Cols), Y: int16(s.Rows)}, nil
}

// console is a program's pseudo console (ConPTY).
type console struct {
	hpc    windows.Handle
	mu     sync.Mutex
	closed bool
}

// hangup closes the pseudo console: its programs get CTRL_CLOSE_EVENT, and
// once it has flushed, its output pipe ends. It may wait for that flush.
func (c *console) hangup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		windows.ClosePseudoConsole(c.hpc)
	}
}

func (c *console) close() { c.hangup() }

func (c *console) resize(co windows.Coord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return os.ErrClosed
	}
	return windows.ResizePseudoConsole(c.hpc, co)
}

// startTTY starts the program on a new pseudo console, in a job as Start's.
// os/exec cannot hand a pseudo console over, so this is CreateProcess.
func startTTY(spec Spec) (*Process, error) {
	size, err := spec.TTY.coord()
	if err != nil {
		return nil, err
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
	con := &console{}
	err = windows.CreatePseudoConsole(size, windows.Handle(inR.Fd()), windows.Handle(outW.Fd()), 0, &con.hpc)
	closeAll(inR, outW) // the console has its own
	if err != nil {
		closeAll(inW, outR)
		return nil, os.NewSyscallError("CreatePseudoConsole", err)
	}
	proc, job, err := spawnOnConsole(spec, con.hpc)
	if err != nil {
		con.close()
		closeAll(inW, outR)
		return nil, err
	}
	p := newProcess(proc, job, spec)
	p.stdin, p.stdout, p.con = inW, outR, con
	close(p.stderrDone)
	go p.reap()
	return p, nil
}

// spawnOnConsole starts spec's program attached to the pseudo console
// hpc, suspended until it is in its new job.
func spawnOnConsole(spec Spec, hpc windows.Handle) (*os.Process, windows.Handle, error) {
	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return nil, 0, err
	}
	defer attrs.Delete()
	// The attribute's value is the HPCON itself, not a pointer to it.
	value := *(*unsafe.Pointer)(unsafe.Pointer(&hpc))
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, value, unsafe.Sizeof(hpc)); err != nil {
		return nil, 0, err
	}
	si := &windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(*si))
	si.Flags = windows.STARTF_USESTDHANDLES // none of ours: the console's

	path, err := windows.UTF16PtrFromString(spec.Path)
	if err != nil {
		return nil, 0, err
	}
	cmdline, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(append([]string{spec.Path}, spec.Args...)))
	if err != nil {
		return nil, 0, err
	}
	var dir *uint16
	if spec.Dir != "" {
		if dir, err = windows.UTF16PtrFromString(spec.Dir); err != nil {
			return nil, 0, err
		}
	}
	env, err := envBlock(spec.Env)
	if err != nil {
		return nil, 0, err
	}
	job, err := newJob()
	if err != nil {
		return nil, 0, err
	}
	var pi windows.ProcessInformation
	flags := uint32(startFlags | windows.CREATE_UNICODE_ENVIRONMENT | windows.EXTENDED_STARTUPINFO_PRESENT)
	if err := windows.CreateProcess(path, cmdline, nil, nil, false, flags, env, dir, &si.StartupInfo, &pi); err != nil {
		windows.CloseHandle(job)
		return nil, 0, &os.PathError{Op: "fork/exec", Path: spec.Path, Err: err}
	}
	defer windows.CloseHandle(pi.Thread)
	defer windows.CloseHandle(pi.Process)
	proc, err := os.FindProcess(int(pi.ProcessId)) // its own handle, for Wait
	if err == nil {
		err = windows.AssignProcessToJobObject(job, pi.Process)
	}
	if err == nil {
		_, err = windows.ResumeThread(pi.Thread)
	}
	if err != nil {
		_ = windows.TerminateProcess(pi.Process, exitTerminated)
		if proc != nil {
			_, _ = proc.Wait()
		}
		windows.CloseHandle(job)
		return nil, 0, err
	}
	return proc, job, nil
}

// envBlock is env as CreateProcess takes it, with SYSTEMROOT added if
// missing (as os/exec does: Windows' libraries need it).
func envBlock(env []string) (*uint16, error) {
	hasRoot := false
	for _, kv := range env {
		hasRoot = hasRoot || strings.HasPrefix(strings.ToUpper(kv), "SYSTEMROOT=")
	}
	if !hasRoot {
		env = append(env[:len(env):len(env)], "SYSTEMROOT="+os.Getenv("SYSTEMROOT"))
	}
	var b []uint16
	for _, kv := range env {
		u, err := windows.UTF16FromString(kv)
		if err != nil {
			return nil, fmt.Errorf("environment entry %q: %w", kv, err)
		}
		b = append(b, u...)
	}
	b = append(b, 0)
	return &b[0], nil
}

// Resize sets the size of the program's terminal. Without a terminal it is
// an error.
func (p *Process) Resize(s Size) error {
	if p.con == nil {
		return fmt.Errorf("not a terminal")
	}
	co, err := s.coord()
	if err != nil {
		return err
	}
	return p.con.resize(co)
}
