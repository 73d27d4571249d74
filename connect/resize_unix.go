//go:build unix

package connect

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// watchResize calls send with the terminal's new size on each SIGWINCH
// until done closes; stop ends the watch.
func watchResize(f *os.File, done <-chan struct{}, send func(cols, rows int)) (stop func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				if c, r, err := term.GetSize(int(f.Fd())); err == nil {
					send(c, r)
				}
			}
		}
	}()
	return func() { signal.Stop(winch) }
}
