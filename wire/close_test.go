package wire

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// The codes are the wire: README's "Close codes" table, unchanged.
func TestCloseCodes(t *testing.T) {
	for _, tc := range []struct {
		got, want CloseCode
	}{
		{ExitCode(0), 1000},
		{ExitCode(1), 4001},
		{ExitCode(3), 4003},
		{ExitCode(255), 4255},
		{SignalCode(9), 4309},
		{SignalCode(15), 4315},
		{EndOfInput, 4500},
		{BadGateway, 1014},
		{GoingAway, 1001},
		{InternalError, 1011},
	} {
		if tc.got != tc.want {
			t.Errorf("got %d, want %d", tc.got, tc.want)
		}
	}
	if HalfCloseHeader != "Wsbridge-Half-Close" {
		t.Errorf("HalfCloseHeader %q", HalfCloseHeader)
	}
}

func TestExitStatusAndSignal(t *testing.T) {
	for status := 0; status <= 255; status++ {
		if got, ok := ExitCode(status).ExitStatus(); !ok || got != status {
			t.Errorf("ExitCode(%d).ExitStatus() = %d, %v", status, got, ok)
		}
		if _, ok := ExitCode(status).Signal(); ok {
			t.Errorf("ExitCode(%d) reads as a signal", status)
		}
	}
	for sig := 1; sig < 128; sig++ {
		if got, ok := SignalCode(sig).Signal(); !ok || got != sig {
			t.Errorf("SignalCode(%d).Signal() = %d, %v", sig, got, ok)
		}
		if _, ok := SignalCode(sig).ExitStatus(); ok {
			t.Errorf("SignalCode(%d) reads as an exit status", sig)
		}
	}
	for _, c := range []CloseCode{ExitBase, ExitBase + 256, SignalBase, SignalBase + 128, EndOfInput, GoingAway, BadGateway, InternalError, NoStatusReceived} {
		if n, ok := c.ExitStatus(); ok {
			t.Errorf("%d reads as exit %d", c, n)
		}
		if n, ok := c.Signal(); ok {
			t.Errorf("%d reads as signal %d", c, n)
		}
	}
}

func TestEndingIsAnError(t *testing.T) {
	var err error = Ending{Code: ExitCode(3), Reason: "exit 3"}
	if err.Error() != "closed with 4003 (exit 3)" {
		t.Errorf("Error() = %q", err.Error())
	}
	if got := (Ending{Code: GoingAway}).Error(); got != "closed with 1001" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("reading: %w", err)
	if got := CloseStatus(wrapped); got != 4003 {
		t.Errorf("CloseStatus(wrapped) = %d", got)
	}
	var e Ending
	if !errors.As(wrapped, &e) || e.Reason != "exit 3" {
		t.Errorf("errors.As: %+v", e)
	}
	for _, err := range []error{nil, io.EOF} {
		if got := CloseStatus(err); got != -1 {
			t.Errorf("CloseStatus(%v) = %d, want -1", err, got)
		}
	}
}
