package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// ptyCount counts wsbridge's instructions (valgrind's cachegrind; -strace:
// its system calls) per MiB of terminal output with flow control on, the
// client acknowledging as the page does (per 32 KiB): what the flow window
// costs a fast client, which a busy machine does not move. -bytes is each
// session's output; the baseline run has the same warm-up and a session of
// no output, then idles as long.
func ptyCount(o opts) error {
	tool, what, err := counter(o)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-ptycount")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mib := float64(o.bytes) / (1 << 20)
	// The program writes as many bytes as the client types, then exits.
	args := []string{"--pty", "--", "/bin/sh", "-c", `stty -echo; read n; head -c "$n" /dev/zero | tr '\0' a`}
	fmt.Printf("pty-count: %s of wsbridge under %s, %.0f MiB through --pty with flow control, %d runs; less a baseline run\n", what, filepath.Base(tool), mib, o.runs)
	var per []float64
	for run := 1; run <= o.runs; run++ {
		name := fmt.Sprintf("%s/run%d", dir, run)
		var took time.Duration
		loaded, err := countInstructions(o, name+".load", args, func(url string) error {
			if err := ptySession(url, 1<<20); err != nil { // warm-up
				return err
			}
			began := time.Now()
			err := ptySession(url, o.bytes)
			took = time.Since(began)
			return err
		})
		if err != nil {
			return fmt.Errorf("run %d: %v", run, err)
		}
		base, err := countInstructions(o, name+".base", args, func(url string) error {
			if err := ptySession(url, 1<<20); err != nil {
				return err
			}
			began := time.Now()
			err := ptySession(url, 0)
			time.Sleep(took - time.Since(began))
			return err
		})
		if err != nil {
			return fmt.Errorf("baseline, run %d: %v", run, err)
		}
		per = append(per, float64(loaded-base)/mib)
		fmt.Printf("  run %d  %12d - %12d = %10.0f %s per MiB (%v)\n", run, loaded, base, per[len(per)-1], what, took.Round(time.Millisecond))
	}
	var runs []string
	for _, v := range per {
		runs = append(runs, strconv.FormatFloat(v, 'f', 0, 64))
	}
	fmt.Printf("\n| %s per MiB (median) | runs |\n|---|---|\n| %.0f | %s |\n", what, median(per), strings.Join(runs, ", "))
	return nil
}

// ptySession has the program write n bytes and reads them, acknowledging
// per 32 KiB as the page does, until the session ends.
func ptySession(url string, n int64) error {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Minute))
	ack := acknowledge(c)
	if err := c.WriteMessage(websocket.BinaryMessage, fmt.Appendf(nil, "%d\r", n)); err != nil {
		return err
	}
	var got int64
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, 1000) {
				break
			}
			return err
		}
		if mt != websocket.BinaryMessage {
			continue
		}
		got += int64(len(msg))
		if err := ack(len(msg)); err != nil {
			return err
		}
	}
	if got < n {
		return fmt.Errorf("%d of %d bytes", got, n)
	}
	return nil
}
