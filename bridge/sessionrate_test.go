package bridge

import (
	"net/http/httptest"
	"slices"
	"testing"
)

// TestEnvironmentInOneString: a session's CGI environment (26 variables
// here) is written into one string that every NAME=value is a piece of:
// 8 allocations in all, where one a variable made 33.
func TestEnvironmentInOneString(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	r := httptest.NewRequest("GET", "/chat?x=1", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	for _, h := range []string{"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "User-Agent", "X-Request-Id"} {
		r.Header.Set(h, "v\n")
	}
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
	for _, h := range []string{"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "User-Agent", "X-Request-Id"} {
		r.Header.Set(h, "v")
	}
	if allocs := testing.AllocsPerRun(100, func() { g.environment(r, scriptPaths{}, "id") }); allocs > 10 {
		t.Errorf("%v allocations for %d variables, want at most 10", allocs, len(env)-len(g.baseEnv))
	}
}
