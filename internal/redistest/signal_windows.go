package redistest

// Windows cannot stop a process by signal.
func (s *Server) pause()  { s.t.Fatal("redistest: Pause needs SIGSTOP, which Windows lacks") }
func (s *Server) resume() {}
