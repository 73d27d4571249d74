//go:build linux

// The subreaper these tests prove is Linux's (PR_SET_CHILD_SUBREAPER): on
// macOS and FreeBSD wsbridge says at start that such orphans are not caught.

package e2e

import (
	"bytes"
	"testing"

	"github.com/gorilla/websocket"
)

// TestEscapedDescendantsEndWithTheSession: nothing a program started,
// whatever group or session it moved to, outlives its session, and none is
// left unreaped.
func TestEscapedDescendantsEndWithTheSession(t *testing.T) {
	mark := newMarker()
	t.Cleanup(func() { killProcesses(mark) })
	inst := start(t, append([]string{"--closems", "50"}, escaping(mark)...)...)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "started")
	waitProcesses(t, "sleep\x00"+mark, 2)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	readAll(t, c)
	waitNoProcesses(t, mark)
	waitNoChildren(t, inst)

	// So does a setsid typed in a terminal, and the shell's job.
	pty := start(t, "--closems", "50", "--pty", "/bin/sh")
	c = termDial(t, pty, "/", 80, 24, false)
	c.WriteMessage(websocket.BinaryMessage, []byte("trap '' HUP INT TERM; sleep "+mark+" & setsid sleep "+mark+" & echo st''arted\r"))
	var out bytes.Buffer
	readTerminalUntil(t, c, &out, "started")
	waitProcesses(t, "sleep\x00"+mark, 2)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	readAll(t, c)
	waitNoProcesses(t, mark)
	waitNoChildren(t, pty)
}

// TestEscapedDescendantsEndWithWsbridge: SIGTERM to wsbridge ends them too.
func TestEscapedDescendantsEndWithWsbridge(t *testing.T) {
	mark := newMarker()
	t.Cleanup(func() { killProcesses(mark) })
	inst := start(t, append([]string{"--closems", "50"}, escaping(mark)...)...)
	c := inst.dial("/", nil)
	expectMessage(t, c, websocket.TextMessage, "started")
	waitProcesses(t, "sleep\x00"+mark, 2)
	inst.stop()
	if inst.err != nil {
		t.Errorf("wsbridge exit: %v", inst.err)
	}
	waitNoProcesses(t, mark)
}
