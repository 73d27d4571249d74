//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestAccessLogJSON: with --logformat json every line on stderr is JSON; a
// session has one line (route, the client behind the trusted proxy, user,
// bytes each way, duration, close codes, status), and each refused request
// one line with route, client, user, path, reason and HTTP status.
func TestAccessLogJSON(t *testing.T) {
	echoAddr := backend(t, "tcp", "127.0.0.1:0", echo).Addr().String()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closed.Close()
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, tokens, "echo: "+echoAddr+"\nclosed: "+closed.Addr().String()+"\nsilent: "+fullListener(t)+"\n")
	inst := start(t, "--token-file", tokens, "--trusted-proxy", "127.0.0.1", "--basic-auth", "alice:pw",
		"--auth-fail-delay", "0", "--maxforks", "1", "--dial-timeout", "500ms")

	const client = "203.0.113.7"
	header := func(kv ...string) http.Header {
		h := http.Header{"X-Forwarded-For": {client}, "Authorization": {"Basic YWxpY2U6cHc="}} // alice:pw
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	refuse := func(path string, h http.Header, status int) {
		t.Helper()
		if got, body := handshake(t, inst.URL+path, h); got != status {
			t.Fatalf("%s: HTTP %d %q, want %d", path, got, body, status)
		}
	}
	refuse("/websockify?token=echo", header("Host", "evil.example"), 421)
	refuse("/websockify?token=echo", header("Origin", "http://evil.example"), 403)
	refuse("/websockify?token=echo", header("Authorization", "Basic YWxpY2U6bm8="), 401) // alice:no
	refuse("/websockify?token=nope", header(), 404)
	refuse("/websockify?token=closed", header(), 502)
	refuse("/websockify?token=silent", header(), 504)
	// A handshake of another version: gorilla's dialer sends only 13.
	req, _ := http.NewRequest("GET", "http://"+inst.Host+"/websockify?token=echo", nil)
	req.Header = header("Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "8", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("version 8: HTTP %d, want 400", resp.StatusCode)
	}

	c := inst.dial("/websockify?token=echo", header())
	refuse("/websockify?token=echo", header(), 429) // --maxforks 1
	c.WriteMessage(websocket.BinaryMessage, []byte("hello"))
	expectMessage(t, c, websocket.BinaryMessage, "hello")
	// A session of 5 ms at least: the log rounds durations to milliseconds,
	// and a quick one is 0.
	time.Sleep(5 * time.Millisecond)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	readAll(t, c)
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" })
	inst.stop()

	refusals := map[string]map[string]any{}
	var sessions []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(inst.output()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if reason, ok := m["reason"].(string); ok {
			if refusals[reason] != nil {
				t.Errorf("two lines for %s: %v and %v", reason, refusals[reason], m)
			}
			refusals[reason] = m
		}
		if m["msg"] == "session" {
			sessions = append(sessions, m)
		}
	}
	for reason, want := range map[string]struct {
		status      int
		route, user string
	}{
		"host":          {421, "", ""},
		"origin":        {403, "/", ""},
		"auth":          {401, "/", ""},
		"not found":     {404, "/", "alice"},
		"dial failed":   {502, "/", "alice"},
		"dial timeout":  {504, "/", "alice"},
		"bad handshake": {400, "/", "alice"},
		"limit":         {429, "/", "alice"},
	} {
		m := refusals[reason]
		route, _ := m["route"].(string)
		if m == nil || m["status"] != float64(want.status) || route != want.route || m["user"] != want.user ||
			m["client"] != client || m["path"] != "/websockify" || m["level"] == "DEBUG" {
			t.Errorf("%s: %v, want status %d, route %q, user %q, client %s, path /websockify, at Info or above",
				reason, m, want.status, want.route, want.user, client)
		}
		delete(refusals, reason)
	}
	if len(refusals) != 0 {
		t.Errorf("refusals besides: %v", refusals)
	}
	if len(sessions) != 1 {
		t.Fatalf("session lines: %v", sessions)
	}
	s := sessions[0]
	for key, want := range map[string]any{"route": "/", "client": client, "user": "alice", "path": "/websockify",
		"bytes_in": 5.0, "bytes_out": 5.0, "close_code": 1000.0, "client_close_code": 1000.0, "status": "backend closed"} {
		if fmt.Sprint(s[key]) != fmt.Sprint(want) {
			t.Errorf("session line %s=%v, want %v (%v)", key, s[key], want, s)
		}
	}
	if d, _ := s["duration"].(float64); d < float64(5*time.Millisecond) {
		t.Errorf("session line duration %v", s["duration"])
	}
}
