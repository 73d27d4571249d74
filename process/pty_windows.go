package process

import "errors"

// ErrNoTerminal: terminals are not built for Windows yet (ConPTY would be
// the way); a caller refuses a terminal route at start.
var ErrNoTerminal = errors.New("terminals (ConPTY) are not supported on Windows yet")

// console would be the pseudo console of a terminal program.
type console struct{}

func (*console) hangup() {}
func (*console) close()  {}

func startTTY(Spec) (*Process, error) { return nil, ErrNoTerminal }

// Resize sets the size of the program's terminal: there is none here.
func (p *Process) Resize(Size) error { return ErrNoTerminal }
