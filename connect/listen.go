package connect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Stdio joins the WebSocket to stdin and stdout (or any pair): it returns
// when the server has closed, with nil or an *Error carrying the exit status.
// Input left unread then is not waited for. With Reconnect, a connection
// lost before the input's end is dialed again (with the same handshake
// headers), and the input goes on over the new one; with TTY only to a
// lasting terminal, with its id (?session=), so that the program is the
// same.
func (o *Options) Stdio(ctx context.Context, in io.Reader, out io.Writer) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var h *handoff
	if o.Reconnect {
		h = newHandoff(in)
		defer close(h.stop)
	}
	dial := o // with --tty, the next dial reattaches to a lasting terminal
	for failed := 0; ; {
		start := time.Now()
		ws, halfClose, err := dial.dialRetry(ctx, log, failed)
		if err != nil {
			return err
		}
		log.Info("connected", "server", Shown(o.URL), "half_close", halfClose)
		input, ended := in, make(chan struct{})
		if h != nil {
			input = h.reader(ended)
		}
		s, err := dial.run(ctx, ws, halfClose, input, in, out)
		ws.Close()
		close(ended)
		log.Info("closed", "up", s.up.Load(), "down", s.down.Load(), "duration", time.Since(start).Round(time.Millisecond), "end", ending(ctx, err))
		if !o.Reconnect || !s.lost || ctx.Err() != nil || o.TTY && s.sessionID == "" {
			return err // a terminal that does not last ends with its connection
		}
		if o.TTY {
			d := *o
			d.URL, d.reattach = withSession(o.URL, s.sessionID), s.sessionID
			dial = &d
		}
		<-s.inDone // its sender lets go of the input
		if s.eof.Load() {
			return err // the answer to a whole input is what was lost
		}
		if s.up.Load()+s.down.Load() > 0 {
			failed = 0 // it worked for a while
		}
		if failed++; o.ReconnectMax > 0 && failed > o.ReconnectMax {
			return err
		}
		log.Warn("connection lost, dialing again", "err", err)
	}
}

// ending says how a session ended, for its last log line.
func ending(ctx context.Context, err error) string {
	var e *Error
	switch {
	case ctx.Err() != nil:
		return "shut down"
	case errors.As(err, &e) && e.Msg == "":
		return "remote exit " + strconv.Itoa(e.Code)
	case err != nil:
		return err.Error()
	}
	return "closed by the server"
}

// Listener is connect --listen: every connection accepted gets its own
// WebSocket.
type Listener struct {
	*Options
	Max int // tunnels open at once; one more is closed at once, with a log line
	Log *slog.Logger
}

// lingerAfterServer is how long a local client may keep sending after the
// server has closed and the client has been told (EOF) before its
// connection is closed.
const lingerAfterServer = 2 * time.Second

// Serve accepts on ln until ctx ends, then closes open tunnels (the server
// gets 1001) and returns when they have ended.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	slots := make(chan struct{}, l.Max)
	for id := 1; ; id++ {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors or similar: let tunnels end, then try again.
			l.Log.Error("accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		log := l.Log.With("tunnel", id, "client", conn.RemoteAddr().String())
		select {
		case slots <- struct{}{}:
		default:
			log.Warn("tunnel refused: too many open", "max", l.Max)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.tunnel(ctx, conn, log, func() { <-slots })
		}()
	}
}

// tunnel carries one local connection over its own WebSocket, then frees
// its slot before its last log line, so that the line means there is room.
func (l *Listener) tunnel(ctx context.Context, conn net.Conn, log *slog.Logger, free func()) {
	start := time.Now()
	ws, halfClose, err := l.dialRetry(ctx, log, 0)
	if err != nil {
		conn.Close()
		free()
		log.Error("tunnel failed", "err", err)
		return
	}
	log.Info("tunnel open", "server", Shown(l.URL))
	s, err := l.run(ctx, ws, halfClose, conn, nil, conn)
	// The server is done: the client reads EOF and may finish sending.
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	select {
	case <-s.inDone:
	case <-ctx.Done():
	case <-time.After(lingerAfterServer):
	}
	conn.Close()
	ws.Close()
	free()
	log.Info("tunnel closed", "up", s.up.Load(), "down", s.down.Load(), "duration", time.Since(start).Round(time.Millisecond), "end", ending(ctx, err))
}
