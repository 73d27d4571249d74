//go:build unix

package bridge

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestEnvironmentInOneString: a session's CGI environment (26 variables
// here) is written into one string that every NAME=value is a piece of:
// 8 allocations in all, where one a variable made 33.
func TestEnvironmentInOneString(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	r := handshakeRequest("v\n")
	r.Header.Add("X-Request-Id", " w")
	g := gateway{baseEnv: []string{"PATH=/usr/bin:/bin"}, serverSoftware: "wsbridge"}
	env := g.environment(r, scriptPaths{scriptName: "/", pathInfo: "/chat"}, "id")
	for _, want := range []string{"PATH=/usr/bin:/bin", "SERVER_SOFTWARE=wsbridge", "SCRIPT_NAME=/", "PATH_INFO=/chat", "UNIQUE_ID=id",
		"CONTENT_LENGTH=", "HTTP_X_REQUEST_ID=v ,  w", "HTTP_SEC_WEBSOCKET_KEY=v", "QUERY_STRING=x=1", "REMOTE_PORT=5000"} {
		if !slices.Contains(env, want) {
			t.Errorf("no %q in %q", want, env)
		}
	}
	// Values that need no cleaning, one value a header: nothing to
	// allocate but the string, the slice and what identityEnv gathers.
	setHandshakeHeaders(r, "v")
	if allocs := testing.AllocsPerRun(100, func() { g.environment(r, scriptPaths{}, "id") }); allocs > 10 {
		t.Errorf("%v allocations for %d variables, want at most 10", allocs, len(env)-len(g.baseEnv))
	}
}

// TestSessionLineCostsNothingWhenOff: with the access log's level above
// Info (--loglevel error, as the benches run), a session's end formats
// nothing and allocates nothing; it boxed ten values and cloned a handler
// before Info was asked. When on, the line is what it was: the route
// first, then the session's fields.
func TestSessionLineCostsNothingWhenOff(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	e := EndedEvent{
		SessionEvent: SessionEvent{Route: "chat", Client: "127.0.0.1:5000", Path: "/", User: "ann"},
		Ending:       Ending{Status: "exit 0"},
		BytesIn:      1000, BytesOut: 2000, Duration: 1500 * time.Millisecond, CloseCode: 4000, ClientCloseCode: 1000,
	}
	off := AccessLog(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})))
	if allocs := testing.AllocsPerRun(100, func() { off.Ended(e) }); allocs != 0 {
		t.Errorf("%v allocations for a line not written", allocs)
	}
	var out bytes.Buffer
	on := AccessLog(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	on.Ended(e)
	want := "level=INFO msg=session route=chat client=127.0.0.1:5000 path=/ duration=1.5s bytes_in=1000 bytes_out=2000 user=ann status=\"exit 0\" close_code=4000 client_close_code=1000\n"
	if out.String() != want {
		t.Errorf("line\n%s want\n%s", out.String(), want)
	}
}
