// Package web holds the pages wsbridge serves from inside its binary: the dev
// console, and the browser terminal with its xterm.js bundle (static/, built
// by terminal/build.sh from terminal/package-lock.json).
package web

import (
	_ "embed"
	"net/http"
)

//go:embed devconsole.html
var devConsole []byte

// ServeDevConsole answers with the dev console: a page that opens a WebSocket
// to the URL it was loaded from, sends what you type and shows what arrives.
// It writes everything it shows as text, never as HTML.
func ServeDevConsole(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(devConsole)
}
