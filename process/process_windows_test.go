package process

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// The test binary is its own helper program (PROCESS_TEST_HELPER), so the
// tests need nothing of Windows but cmd.exe.
func init() {
	switch os.Getenv("PROCESS_TEST_HELPER") {
	case "":
		return
	case "cat":
		io.Copy(os.Stdout, os.Stdin)
	case "sleep": // until killed
		time.Sleep(time.Hour)
	case "spawn": // a grandchild holding stdout; ignores CTRL_BREAK; prints the grandchild's pid
		signal.Ignore(os.Interrupt)
		c := helper("sleep")
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.Process.Pid)
		if os.Getenv("PROCESS_TEST_EXIT") == "1" {
			os.Exit(0)
		}
		time.Sleep(time.Hour)
	case "wait": // until stdin ends or CTRL_BREAK comes (Go's default: STATUS_CONTROL_C_EXIT)
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		time.Sleep(time.Hour)
	}
	os.Exit(0)
}

func helper(name string, env ...string) *exec.Cmd {
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), append(env, "PROCESS_TEST_HELPER="+name)...)
	return c
}

func startHelper(t *testing.T, name string, env ...string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Spec{Path: exe, Env: append(os.Environ(), append(env, "PROCESS_TEST_HELPER="+name)...), StderrLine: func(l string, _ bool) { t.Log("stderr:", l) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// The parent helper starts a sleeper, prints its pid and waits to be killed.
func parentHelper() {
	exe, _ := os.Executable()
	p, err := Start(Spec{Path: exe, Env: append(os.Environ(), "PROCESS_TEST_HELPER=sleep", "PROCESS_TEST_PARENT=")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid())
	time.Sleep(time.Hour)
}

func cmdExe(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("cmd")
	if err != nil {
		t.Skip("no cmd.exe:", err)
	}
	return path
}

// underWine says whether these tests run under Wine, whose gaps some
// tests name when they skip.
func underWine() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}

// exited waits, with a generous deadline, for process pid to end; true
// once it has (or never was).
func exited(pid int) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return true // no such process any more
	}
	defer windows.CloseHandle(h)
	ev, _ := windows.WaitForSingleObject(h, 15000)
	return ev == windows.WAIT_OBJECT_0
}

func TestWindowsExitStatusThroughCmd(t *testing.T) {
	p, err := Start(Spec{Path: cmdExe(t), Args: []string{"/c", "echo hello& exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out, _ := io.ReadAll(p)
	if got := strings.TrimSpace(string(out)); got != "hello" {
		t.Errorf("output %q, want hello", got)
	}
	if s := p.Wait(); s.Code != 3 || s.Signal != 0 {
		t.Fatalf("status %v, want exit 3", s)
	}
}

func TestWindowsInputOutputAndEOF(t *testing.T) {
	p := startHelper(t, "cat")
	if _, err := p.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(p, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	p.CloseWrite()
	if rest, _ := io.ReadAll(p); len(rest) != 0 {
		t.Fatalf("more output %q", rest)
	}
	if s := p.Wait(); s.Code != 0 {
		t.Fatalf("status %v, want exit 0", s)
	}
}

func TestWindowsStderrLines(t *testing.T) {
	lines := make(chan string, 2)
	p, err := Start(Spec{Path: cmdExe(t), Args: []string{"/c", "echo oops 1>&2"}, StderrLine: func(l string, _ bool) { lines <- l }})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(p)
	p.Close()
	if l := strings.TrimSpace(<-lines); l != "oops" {
		t.Fatalf("stderr line %q, want oops", l)
	}
}

// TestWindowsStopEndsWholeJob: a program that ignores CTRL_BREAK, and its
// child, both end on Stop: the job is terminated.
func TestWindowsStopEndsWholeJob(t *testing.T) {
	p := startHelper(t, "spawn")
	line, err := bufio.NewReader(p).ReadString('\n')
	grandchild, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || grandchild == 0 {
		t.Fatalf("grandchild pid %q, %v", line, err)
	}
	p.Stop()
	if s := p.Wait(); s.Signal != syscall.SIGKILL {
		t.Fatalf("status %v, want signal 9 (the job terminated)", s)
	}
	p.Close()
	if !exited(grandchild) {
		t.Fatalf("grandchild %d outlived Close", grandchild)
	}
}

// TestWindowsGrandchildHoldingStdout: the program exits, its child holds
// stdout: the output still ends (the job is terminated after Grace+100ms).
func TestWindowsGrandchildHoldingStdout(t *testing.T) {
	p := startHelper(t, "spawn", "PROCESS_TEST_EXIT=1")
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	grandchild, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if s := p.Wait(); s.Code != 0 {
		t.Fatalf("status %v, want exit 0", s)
	}
	if grandchild == 0 || !exited(grandchild) {
		t.Fatalf("grandchild %q still runs", out)
	}
}

// TestWindowsCtrlBreak: a program that ignores its closed input ends on
// the ladder's CTRL_BREAK_EVENT, reported as SIGINT.
func TestWindowsCtrlBreak(t *testing.T) {
	if underWine() {
		t.Skip("Wine does not deliver CTRL_BREAK_EVENT to a process group without a console")
	}
	p := startHelper(t, "wait")
	if line, err := bufio.NewReader(p).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	p.Stop()
	if s := p.Wait(); s.Signal != syscall.SIGINT {
		t.Fatalf("status %v, want signal 2 (CTRL_BREAK)", s)
	}
}

// TestWindowsParentDeath: when wsbridge dies, its jobs close and their
// programs end.
func TestWindowsParentDeath(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "PROCESS_TEST_PARENT=1")
	out, _ := parent.StdoutPipe()
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || child == 0 {
		parent.Process.Kill()
		parent.Wait()
		t.Fatalf("child pid %q, %v", line, err)
	}
	parent.Process.Kill()
	parent.Wait()
	if !exited(child) {
		t.Fatalf("child %d outlived its parent", child)
	}
}

func TestWindowsStartErrors(t *testing.T) {
	if _, err := Start(Spec{Path: `C:\nonexistent\prog.exe`}); err == nil {
		t.Fatal("starting a missing program succeeded")
	}
	if _, err := Start(Spec{Path: cmdExe(t), TTY: &Size{Cols: 40000, Rows: 24}}); err == nil {
		t.Fatal("a terminal of 40000 columns started")
	}
}

// TestWindowsTerminal: a program on a pseudo console writes to it, can be
// resized, and its output ends when it exits, with its status.
func TestWindowsTerminal(t *testing.T) {
	if underWine() {
		t.Skip("Wine 8 has no working pseudo console: ResizePseudoConsole is not implemented and programs write past it to wsbridge's own output")
	}
	p, err := Start(Spec{Path: cmdExe(t), Args: []string{"/c", "echo hi there& exit 4"}, TTY: &Size{Cols: 80, Rows: 24}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Resize(Size{Cols: 100, Rows: 30}); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Errorf("resize: %v", err)
	}
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "hi there") {
		t.Errorf("output %q, want hi there", out)
	}
	if s := p.Wait(); s.Code != 4 {
		t.Fatalf("status %v, want exit 4", s)
	}
	if err := (&Process{}).Resize(Size{Cols: 1, Rows: 1}); err == nil {
		t.Error("resized a process without a terminal")
	}
}
