package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instructions counts what wsbridge executes, not how long it takes, so
// that a change's cost can be compared on a busy machine: wsbridge runs
// under valgrind's cachegrind (instruction counts only), the client does
// a load, and the count at exit, less that of a baseline run (the same
// start and warm-up, then idle for as long as the load took), over the
// load's units is the figure:
//
//   - a session: connect, one round trip through a new cat, a clean close
//     (the program reaped, its status in the close frame);
//   - an echoed 32-byte message through cat (line mode), and through --tcp
//     to the bench's TCP echo server (binary), on one connection.
//
// cat and the echo server are not counted: valgrind follows wsbridge only.
// Go's asynchronous preemption is off (GODEBUG=asyncpreemptoff=1): its
// signals come at moments the clock decides, and under valgrind often.
//
// With -strace, the same loads count wsbridge's system calls (strace -f -c)
// instead.
func instructions(o opts) error {
	tool, what, err := counter(o)
	if err != nil {
		return err
	}
	echoAddr, err := echoServer()
	if err != nil {
		return err
	}
	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-cachegrind"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	msg := []byte("0123456789abcdef0123456789abcdef")
	type load struct {
		name, unit string
		units      int
		args       []string
		run        func(url string, units int) error
	}
	loads := []load{
		{"session through cat", "session", o.sessions, []string{"/bin/cat"}, func(url string, n int) error {
			for i := range 10 + n { // 10 to warm up
				if err := wsSession(url, false); err != nil {
					return fmt.Errorf("session %d: %v", i+1, err)
				}
			}
			return nil
		}},
		{"echo through cat", "message", o.echoes, []string{"/bin/cat"}, func(url string, n int) error {
			return echoes(url, false, msg, n)
		}},
		{"echo through --tcp", "message", o.echoes, []string{"--binary", "--tcp", echoAddr}, func(url string, n int) error {
			return echoes(url, true, msg, n)
		}},
	}
	loads = slices.DeleteFunc(loads, func(l load) bool { return !strings.Contains(l.name, o.loads) })
	fmt.Printf("instructions: %s of wsbridge under %s, %d sessions, %d echoes of %d bytes, %d runs; each load less a baseline run (the same warm-up, then idle as long)\n",
		what, filepath.Base(tool), o.sessions, o.echoes, len(msg), o.runs)
	per := make([][]float64, len(loads))
	for run := 1; run <= o.runs; run++ {
		for i, l := range loads {
			name := fmt.Sprintf("%s/run%d-%s", dir, run, strings.ReplaceAll(l.name, " ", "-"))
			var took time.Duration
			loaded, err := countInstructions(o, name+".load", l.args, func(url string) error {
				began := time.Now()
				err := l.run(url, l.units)
				took = time.Since(began)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s, run %d: %v", l.name, run, err)
			}
			base, err := countInstructions(o, name+".base", l.args, func(url string) error {
				began := time.Now()
				err := l.run(url, 0)
				time.Sleep(took - time.Since(began))
				return err
			})
			if err != nil {
				return fmt.Errorf("%s baseline, run %d: %v", l.name, run, err)
			}
			per[i] = append(per[i], float64(loaded-base)/float64(l.units))
			fmt.Printf("  run %d  %-20s %12d - %12d = %8.1f %s per %s\n", run, l.name, loaded, base, per[i][len(per[i])-1], what, l.unit)
		}
	}
	fmt.Printf("\n| load | %s per unit (median) | runs |\n|---|---|---|\n", what)
	for i, l := range loads {
		var runs []string
		for _, v := range per[i] {
			runs = append(runs, strconv.FormatFloat(v, 'f', 1, 64))
		}
		fmt.Printf("| %s | %.1f per %s | %s |\n", l.name, median(per[i]), l.unit, strings.Join(runs, ", "))
	}
	if o.keep != "" && o.strace == "" {
		fmt.Printf("\ncachegrind's files are in %s: cg_annotate FILE.load, or cg_diff FILE.base FILE.load | cg_annotate /dev/stdin\n", o.keep)
	}
	return nil
}

// echoes sends 100 messages to warm up, then n more, on one connection.
func echoes(url string, binary bool, msg []byte, n int) error {
	rt, err := dialWS(url, binary)
	if err != nil {
		return err
	}
	defer rt.Close()
	for i := range 100 + n {
		if err := rt.roundTrip(msg); err != nil {
			return fmt.Errorf("message %d: %v", i+1, err)
		}
	}
	return nil
}

// countInstructions starts wsbridge ARGS under cachegrind, runs load
// against it, stops it with SIGTERM (a graceful shutdown, so cachegrind
// writes its file) and returns the instructions counted.
func countInstructions(o opts, out string, args []string, load func(url string) error) (int64, error) {
	spec := wsbridgeSpec(o, "wsbridge", args...)
	spec.bin = o.valgrind
	spec.args = append([]string{"--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=" + out, o.wsbridge}, spec.args...)
	if o.strace != "" {
		spec.bin = o.strace
		spec.args = append([]string{"-f", "-c", "-o", out, o.wsbridge}, spec.args[4:]...)
	}
	spec.env = []string{"GODEBUG=asyncpreemptoff=1"}
	spec.startWait = 2 * time.Minute // valgrind starts slowly on a busy machine
	s, err := startServer(spec)
	if err != nil {
		return 0, err
	}
	err = load(s.url())
	target := s.cmd.Process.Pid
	if o.strace != "" {
		// strace holds on to its tracee when signalled itself: end wsbridge.
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", target, target))
		if f := strings.Fields(string(b)); len(f) > 0 {
			target, _ = strconv.Atoi(f[0])
		}
	}
	if p, err := os.FindProcess(target); err == nil {
		_ = p.Signal(syscall.SIGTERM)
	}
	if werr := s.cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("wsbridge under valgrind: %v", werr)
	}
	if err != nil {
		return 0, err
	}
	if o.strace != "" {
		return straceTotal(out)
	}
	return cachegrindTotal(out)
}

// straceTotal reads the calls column of strace -c's "total" line.
func straceTotal(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[len(f)-1] == "total" {
			return strconv.ParseInt(f[3], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no total line", filepath.Base(file))
}

// cachegrindTotal reads the "summary:" line of a cachegrind output file:
// the instructions executed (Ir), with --cache-sim=no the only event.
func cachegrindTotal(file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no summary line", filepath.Base(file))
}

// counter is the tool that counts (valgrind, or strace with -strace), and
// what it counts.
func counter(o opts) (tool, what string, err error) {
	tool, what = o.valgrind, "instructions"
	if o.strace != "" {
		tool, what = o.strace, "system calls"
	}
	if _, err := os.Stat(tool); err != nil {
		return "", "", fmt.Errorf("%s: %v", tool, err)
	}
	return tool, what, nil
}
