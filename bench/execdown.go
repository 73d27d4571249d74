package main

import (
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"strconv"
)

// execDown compares `head -c N /dev/zero` through wsbridge --binary and
// websocketd --binary with the limits: raw loopback TCP (the Go source of
// tcp-down, read straight from its socket) and the command's output read
// straight from a pipe; under -tls, also a TLS relay in front of the TCP
// source.
func execDown(o opts) error {
	src, err := newSource(o.bytes)
	if err != nil {
		return err
	}
	defer src.Close()
	command := []string{"/usr/bin/head", "-c", strconv.FormatInt(o.bytes, 10), "/dev/zero"}
	contenders := []*contender{
		src.rawTCP(),
		{name: "pipe", fetch: func() (int64, uint32, error) { return commandOverPipe(command) }},
	}
	if benchTLS.on {
		relayed, err := src.relayed()
		if err != nil {
			return err
		}
		defer relayed.Close()
		contenders = append(contenders, relayed.contender)
	}
	servers, err := startServers(wsbridgeSpec(o, "wsbridge", append([]string{"--binary", "--"}, command...)...), websocketdSpec(o, append([]string{"--binary"}, command...)...))
	if err != nil {
		return err
	}
	defer stopAll(servers)
	contenders = append(contenders, downloads(servers, nil)...)
	fmt.Printf("exec-down: %s, contenders in turn, %d runs\n", command, o.runs)
	zeros := crc32.Checksum(make([]byte, o.bytes), castagnoli)
	for _, c := range contenders[1:] {
		if c.name != "TLS relay" {
			c.n, c.crc = o.bytes, zeros
		}
	}
	return compete(contenders, o.runs)
}

// commandOverPipe runs command and reads its stdout from a pipe.
func commandOverPipe(command []string) (int64, uint32, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, 0, err
	}
	n, crc, err := readCRC(r)
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	return n, crc, err
}

// readCRC reads r to its end in 256 KiB reads.
func readCRC(r io.Reader) (int64, uint32, error) {
	h := crc32.New(castagnoli)
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	return n, h.Sum32(), err
}
