package bridge

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/process"
)

// cgiHandler runs CGI scripts (RFC 3875) from dir, confined to it like --dir
// scripts. A script runs as a session's program does (process.Start): in its
// own process group, killed if wsbridge dies, and taken down by the signal
// ladder once its client leaves or the server shuts down, so it never
// outlives its request nor keeps its --maxforks slot.
type cgiHandler struct {
	dir     string
	gateway gateway // https is set per request
	grace   time.Duration
	limit   *routeHandler
	log     *slog.Logger
}

// serve answers r if its path names a script in dir, and says whether it did.
func (c *cgiHandler) serve(w http.ResponseWriter, r *http.Request) bool {
	script, err := findScript(c.dir, r.URL.Path)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return false
	}
	if err != nil {
		writeOpenError(w, err)
		return true
	}
	if !c.limit.acquire() {
		c.limit.refused(w, RefusedLimit, r, nil)
		writeOpenError(w, errTooMany)
		return true
	}
	defer c.limit.release()
	c.limit.adm.cgiStarted()
	defer c.limit.adm.cgiEnded()
	c.run(w, r, script)
	return true
}

// run runs one script: the request body is its stdin, its stdout the
// response (CGI headers, a blank line, the body, streamed as it comes).
func (c *cgiHandler) run(w http.ResponseWriter, r *http.Request, script scriptPaths) {
	if slices.Contains(r.TransferEncoding, "chunked") {
		http.Error(w, "Chunked request bodies are not supported by CGI.", http.StatusBadRequest)
		return
	}
	g := c.gateway
	g.https = r.TLS != nil
	// Appended after the shared variables, so these win (os/exec keeps the
	// last of duplicates): the request body's, and what CGI scripts get
	// beyond exec programs.
	id := uniqueID()
	env := append(g.environment(r, script, id), "SCRIPT_FILENAME="+script.file, "HTTP_HOST="+cleanEnvValue(r.Host))
	if r.ContentLength > 0 {
		env = append(env, "CONTENT_LENGTH="+strconv.FormatInt(r.ContentLength, 10))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		env = append(env, "CONTENT_TYPE="+cleanEnvValue(ct))
	}
	log := c.log.With("script", script.scriptName, "client", r.RemoteAddr)
	p, err := process.Start(process.Spec{
		Path:   script.file,
		Env:    env,
		Mark:   "UNIQUE_ID=" + id,
		Dir:    c.dir,
		Stderr: os.Stderr, // as net/http/cgi did
		Grace:  c.grace,
	})
	if err != nil {
		log.Error("cannot start CGI script", "err", err)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOMEM) {
			http.Error(w, "cannot start a process now", http.StatusServiceUnavailable)
		} else {
			http.Error(w, "cannot start the script", http.StatusInternalServerError)
		}
		return
	}
	rc := http.NewResponseController(w)
	bodyDone := make(chan struct{})
	go func() {
		defer close(bodyDone)
		if r.ContentLength != 0 {
			_, _ = io.Copy(p, r.Body)
		}
		_ = p.CloseWrite()
	}()
	defer func() {
		p.Close() // the ladder, if the script still runs
		// A client that stops sending its body must not hold the handler.
		// Only then: a deadline on a kept-alive connection whose body is
		// all read fails net/http's read in the background, which ends the
		// context of every later request on it (their scripts would get
		// the ladder at once).
		select {
		case <-bodyDone:
		default:
			if r.ContentLength != 0 {
				_ = rc.SetReadDeadline(time.Now())
			}
			<-bodyDone
		}
	}()
	// The request's context ends when the client goes or the server shuts down.
	defer context.AfterFunc(r.Context(), p.Stop)()

	out := bufio.NewReaderSize(p, 4096)
	header := http.Header{}
	status, ok := readCGIHeader(out, header, log)
	if !ok {
		http.Error(w, "the script's answer is not CGI", http.StatusInternalServerError)
		return
	}
	addHeaders(w.Header(), header)
	w.WriteHeader(status)
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client is gone
			}
			_ = rc.Flush() // a streaming script's output goes out as it comes
		}
		if err != nil {
			return
		}
	}
}

// readCGIHeader reads a script's header lines into h, up to the blank line,
// and returns the response status: Status's, or 302 with a Location, or 200
// with a Content-Type (net/http/cgi's rules). ok is false for an answer
// without headers or with neither of those.
func readCGIHeader(out *bufio.Reader, h http.Header, log *slog.Logger) (status int, ok bool) {
	for {
		line, isPrefix, err := out.ReadLine()
		if isPrefix {
			log.Error("CGI header line too long")
			return 0, false
		}
		if err != nil {
			log.Error("CGI script ended before its header did")
			return 0, false
		}
		if len(line) == 0 {
			break
		}
		name, value, valid := cutHeader(string(line))
		if !valid {
			log.Warn("CGI header line skipped", "line", string(line))
			continue
		}
		if strings.EqualFold(name, "Status") {
			code, err := strconv.Atoi(value[:min(3, len(value))])
			if err != nil || code < 200 || code > 599 {
				log.Error("CGI status not understood", "status", value)
				return 0, false
			}
			status = code
			continue
		}
		h.Add(name, value)
	}
	if status == 0 && h.Get("Location") != "" {
		status = http.StatusFound
	}
	if status == 0 && h.Get("Content-Type") == "" {
		log.Error("CGI header without Status, Location or Content-Type")
		return 0, false
	}
	return cmp.Or(status, http.StatusOK), true
}
