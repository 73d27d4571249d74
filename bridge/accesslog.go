package bridge

import (
	"log/slog"
	"net/http"
	"time"
)

// plainRecorder notes what a plain HTTP response sent, for its access line.
// Flush passes through, so CGI output still streams.
type plainRecorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	user    string  // who the request proved to be, once credentials passed
	refusal Refusal // why it was refused, if it was
}

func (w *plainRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *plainRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *plainRecorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *plainRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteUser tells a plain request's access line who it proved to be.
func noteUser(w http.ResponseWriter, r *http.Request) {
	if rec, ok := w.(*plainRecorder); ok {
		rec.user = userOf(r)
	}
}

// logPlain writes the access line of a plain HTTP request: pages, files,
// CGI runs and refusals alike. The query is left out: it may hold a token.
// route is the name of the route that answered, "" if none matched.
// A refused request's line also says why (reason), as the refusal lines of
// handshakes do.
func logPlain(log *slog.Logger, r *http.Request, w *plainRecorder, start time.Time, route string) {
	args := []any{
		"route", route,
		"client", r.RemoteAddr,
		"method", r.Method,
		"path", r.URL.Path,
		"status", w.status,
		"bytes", w.bytes,
		"duration", time.Since(start).Round(time.Microsecond),
		"user", w.user,
	}
	if w.refusal != 0 {
		args = append(args, "reason", w.refusal.String())
	}
	log.Info("http", args...)
}
