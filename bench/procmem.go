package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wsbridge/wsbridge/internal/procfs"
)

// pssKiB is a process's proportional set size: its share of every page it
// maps, from /proc/PID/smaps_rollup.
func pssKiB(pid int) (int, error) {
	return procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
}

// rssKiB is a process's resident set size.
func rssKiB(pid int) (int, error) {
	return procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

func procField(file, name string) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, name)
}

// descendants lists every process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	for _, p := range procfs.List() {
		children[p.PPID] = append(children[p.PPID], p.PID)
	}
	var all []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		all = append(all, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return all
}

// treePSS is the proportional set size of pid and, apart, of everything
// below it.
func treePSS(pid int) (own, below int, err error) {
	if own, err = pssKiB(pid); err != nil {
		return 0, 0, err
	}
	for _, p := range descendants(pid) {
		if k, err := pssKiB(p); err == nil { // a child may just have ended
			below += k
		}
	}
	return own, below, nil
}
