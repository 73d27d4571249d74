// Package procfs reads the process table from /proc: who is whose parent,
// in which process group and session, and whether it is a zombie.
package procfs

import (
	"bytes"
	"os"
	"strconv"
)

// Proc is one process, from /proc/PID/stat.
type Proc struct {
	PID, PPID int
	PGID, SID int
	State     byte   // 'R', 'S', 'Z' (a zombie, not yet reaped), ...
	Command   string // the executable's name, at most 15 bytes
}

// List reads every process that exists now. A process that ends while it
// is read is left out.
func List() []Proc {
	entries, _ := os.ReadDir("/proc")
	var procs []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := Read(pid); ok {
			procs = append(procs, p)
		}
	}
	return procs
}

// Read reads one process; ok is false if it does not exist (any more).
func Read(pid int) (p Proc, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, false
	}
	// "PID (COMMAND) STATE PPID PGRP SESSION ...": the command may hold
	// spaces and parentheses, so fields count from its last ")".
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return Proc{}, false
	}
	f := bytes.Fields(stat[end+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return Proc{}, false
	}
	p = Proc{PID: pid, State: f[0][0], Command: string(stat[open+1 : end])}
	p.PPID, _ = strconv.Atoi(string(f[1]))
	p.PGID, _ = strconv.Atoi(string(f[2]))
	p.SID, _ = strconv.Atoi(string(f[3]))
	return p, true
}
