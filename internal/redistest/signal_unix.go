//go:build unix

package redistest

import "syscall"

func (s *Server) pause()  { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *Server) resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }
