//go:build unix

package e2e

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// adminURL waits for the admin listener's log line and returns its URL.
func (inst *instance) adminURL() string {
	inst.t.Helper()
	line := inst.waitLog(func(m map[string]any) bool { return m["msg"] == "admin listening" })
	return line["url"].(string)
}

// scrape gets an admin path: its status and body.
func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metricValue is the value of the sample named series (name{labels} as
// Prometheus writes them, labels in order), or -1 if there is none.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// awaitMetrics scrapes until every series has its value (the session's end
// is counted after its client hears the close frame), or fails after 10s.
func awaitMetrics(t *testing.T, url string, want map[string]float64) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, text := scrape(t, url+"metrics")
		var wrong []string
		for series, v := range want {
			if got := metricValue(text, series); got != v {
				wrong = append(wrong, series+" = "+strconv.FormatFloat(got, 'g', -1, 64)+", want "+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		if len(wrong) == 0 {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after 10s:\n%s\n\n%s", strings.Join(wrong, "\n"), text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetrics: a config file with an admin listener; real sessions on an
// exec and a TCP route, and refusals of each kind (origin, auth, 404, a
// dial failure), show in /metrics by route, kind, code and reason; no
// path or client address becomes a label. /healthz is 200 throughout;
// /readyz is 200 while serving and 503 from the moment shutdown begins.
func TestMetrics(t *testing.T) {
	echoAddr := backend(t, "tcp", "127.0.0.1:0", echo).Addr().String()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nobody listens there now: a dial failure
	marker := newMarker()
	defer killProcesses(marker)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		// Deaf to SIGINT and SIGTERM: shutdown waits for it, long enough
		// to see /readyz refuse.
		"stubborn.sh": "#!/bin/sh\ntrap '' INT TERM\ncat\nexec sleep " + marker + "\n",
		"wsbridge.yaml": `listen: [{address: 127.0.0.1, port: 0}]
admin: {address: "127.0.0.1:0"}
routes:
  - {path: /cat, name: cat, exec: {command: cat}}
  - {path: /echo, name: echo, tcp: {target: "` + echoAddr + `"}}
  - {path: /dead, name: dead, tcp: {target: "` + deadAddr + `"}}
  - {path: /secret, name: secret, exec: {command: cat}, auth: {basic: [{user: ann, password: pw}], fail_delay: 1ms}}
  - {path: /stubborn, name: stubborn, exec: {command: ./stubborn.sh}, close_grace: 1m}
`,
	})
	inst := launchConfig(t, filepath.Join(dir, "wsbridge.yaml"))
	admin := inst.adminURL()
	if status, body := scrape(t, admin+"healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", status, body)
	}
	if status, _ := scrape(t, admin+"readyz"); status != 200 {
		t.Errorf("readyz while serving: %d", status)
	}

	var clientPorts []string
	session := func(path string, typ int, msg string) {
		t.Helper()
		c := inst.dial(path, nil)
		clientPorts = append(clientPorts, strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port))
		if err := c.WriteMessage(typ, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, c, typ, msg)
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		readAll(t, c)
		c.Close()
	}
	session("/cat", websocket.TextMessage, "hello")
	session("/cat", websocket.TextMessage, "hi")
	session("/echo", websocket.BinaryMessage, "abcd")

	refuse := func(path string, header http.Header, status int) {
		t.Helper()
		_, resp, err := websocket.DefaultDialer.Dial(inst.URL+path, header)
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("%s: %v, want %d", path, err, status)
		}
	}
	refuse("/cat", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden)
	refuse("/nowhere-"+marker, nil, http.StatusNotFound)
	refuse("/dead", nil, http.StatusBadGateway)
	refuse("/secret", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("ann:wrong"))}}, http.StatusUnauthorized)

	// One session stays open: the gauge counts it.
	open := inst.dial("/cat", nil)
	text := awaitMetrics(t, admin, map[string]float64{
		`wsbridge_sessions_active{kind="exec",route="cat"}`:                  1,
		`wsbridge_sessions_active{kind="tcp",route="echo"}`:                  0,
		`wsbridge_sessions_total{kind="exec",route="cat"}`:                   3,
		`wsbridge_sessions_total{kind="tcp",route="echo"}`:                   1,
		`wsbridge_sessions_ended_total{code="1000",route="cat"}`:             2,
		`wsbridge_sessions_ended_total{code="1000",route="echo"}`:            1,
		`wsbridge_received_bytes_total{route="cat"}`:                         7,
		`wsbridge_sent_bytes_total{route="cat"}`:                             7,
		`wsbridge_received_bytes_total{route="echo"}`:                        4,
		`wsbridge_sent_bytes_total{route="echo"}`:                            4,
		`wsbridge_session_duration_seconds_count{kind="exec",route="cat"}`:   2,
		`wsbridge_session_duration_seconds_count{kind="tcp",route="echo"}`:   1,
		`wsbridge_backend_open_seconds_count{kind="exec",route="cat"}`:       3,
		`wsbridge_backend_open_seconds_count{kind="tcp",route="echo"}`:       1,
		`wsbridge_requests_refused_total{reason="origin",route="cat"}`:       1,
		`wsbridge_requests_refused_total{reason="not found",route=""}`:       1,
		`wsbridge_requests_refused_total{reason="dial failed",route="dead"}`: 1,
		`wsbridge_requests_refused_total{reason="auth",route="secret"}`:      1,
		`wsbridge_backend_open_seconds_count{kind="tcp",route="dead"}`:       -1, // refused: never opened
		`wsbridge_sessions_total{kind="exec",route="secret"}`:                0,  // refused: none opened
	})
	for _, s := range append(clientPorts, "nowhere", marker, "/cat", "/echo", deadAddr, "evil", "ann") {
		if strings.Contains(text, s) {
			t.Errorf("%q, a path, client or credential, is in the metrics", s)
		}
	}
	// Every wsbridge label value is from a bounded set.
	labels := regexp.MustCompile(`(\w+)="([^"]*)"`)
	allowed := map[string]*regexp.Regexp{
		"route":  regexp.MustCompile(`^(|cat|echo|dead|secret|stubborn)$`),
		"kind":   regexp.MustCompile(`^(exec|pty|tcp|unix|tokens)$`),
		"code":   regexp.MustCompile(`^(none|other|[1-4]\d\d\d)$`),
		"reason": regexp.MustCompile(`^(origin|auth|not found|dial failed)$`),
		"le":     regexp.MustCompile(`^(\+Inf|[0-9.e+-]+)$`),
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "wsbridge_") {
			continue
		}
		for _, m := range labels.FindAllStringSubmatch(line, -1) {
			if re, ok := allowed[m[1]]; !ok || !re.MatchString(m[2]) {
				t.Errorf("label %s=%q in %q is not one of a bounded set", m[1], m[2], line)
			}
		}
	}
	open.Close()
	awaitMetrics(t, admin, map[string]float64{
		`wsbridge_sessions_active{kind="exec",route="cat"}`:                0,
		`wsbridge_session_duration_seconds_count{kind="exec",route="cat"}`: 3,
	})

	// Shutdown waits for the stubborn program: meanwhile not ready, still
	// healthy.
	stubborn := inst.dial("/stubborn", nil)
	defer stubborn.Close()
	inst.cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, body := scrape(t, admin+"readyz")
		if status == http.StatusServiceUnavailable && body == "not ready\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz 10s into shutdown: %d %q", status, body)
		}
	}
	if status, _ := scrape(t, admin+"healthz"); status != 200 {
		t.Errorf("healthz during shutdown: %d", status)
	}
	waitProcesses(t, marker, 1) // the program's stdin ended: it sleeps, deaf
	killProcesses(marker)
	if code, out := inst.exitCode(t); code != 0 {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if _, err := http.Get(admin + "healthz"); err == nil {
		t.Error("the admin listener answers after wsbridge exited")
	}
}

// TestMetricsFlags: the command line's --admin-address, a bare port on
// loopback only: the one route is "/" and its kind the backend's. Without
// it there is no admin listener.
func TestMetricsFlags(t *testing.T) {
	inst := start(t, "--admin-address", "0", "cat")
	admin := inst.adminURL()
	var urls []string // both are logged before "listening", which start waited for
	inst.mu.Lock()
	for _, line := range inst.logs {
		if line["msg"] == "admin listening" {
			urls = append(urls, line["url"].(string))
		}
	}
	inst.mu.Unlock()
	awaitMetrics(t, admin, map[string]float64{ // there before the first session
		`wsbridge_sessions_total{kind="exec",route="/"}`:  0,
		`wsbridge_sessions_active{kind="exec",route="/"}`: 0,
	})
	for _, u := range urls {
		if !strings.HasPrefix(u, "http://127.0.0.1:") && !strings.HasPrefix(u, "http://[::1]:") {
			t.Errorf("admin listening at %s, beyond loopback", u)
		}
	}
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("x"))
	expectMessage(t, c, websocket.TextMessage, "x")
	c.Close()
	awaitMetrics(t, admin, map[string]float64{
		`wsbridge_sessions_total{kind="exec",route="/"}`:             1,
		`wsbridge_sessions_active{kind="exec",route="/"}`:            0,
		`wsbridge_backend_open_seconds_count{kind="exec",route="/"}`: 1,
	})
	if status, _ := scrape(t, admin+"readyz"); status != 200 {
		t.Errorf("readyz: %d", status)
	}

	plain := start(t, "cat")
	if strings.Contains(plain.output(), "admin") {
		t.Errorf("an admin listener without --admin-address:\n%s", plain.output())
	}
}

// TestAdminPortInUse: an admin port in use is exit 1 with one line naming
// --admin-address (or the file's key), before anything listens.
func TestAdminPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	file := filepath.Join(dir, "wsbridge.yaml")
	writeFiles(t, dir, map[string]string{"wsbridge.yaml": "listen: [{port: 0}]\nadmin:\n  address: 127.0.0.1:" + port + "\nroutes: [{path: /, exec: {command: cat}}]\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "0", "--admin-address", "127.0.0.1:" + port, "cat"}, "wsbridge: --admin-address: listen on 127.0.0.1 port " + port + ": address already in use"},
		{[]string{"--config", file}, "wsbridge: " + file + ":3:12: admin.address: listen on 127.0.0.1 port " + port + ": address already in use"},
	} {
		if code, out := launch(t, tc.args...).exitCode(t); code != 1 || out != tc.want {
			t.Errorf("%v: exit %d, %q; want 1, %q", tc.args, code, out, tc.want)
		}
	}
	if code, out := launch(t, "--admin-address", "127.0.0.1:x", "cat").exitCode(t); code != 2 || !strings.Contains(out, "--admin-address") {
		t.Errorf("a bad --admin-address: exit %d, %q; want 2 naming the flag", code, out)
	}
}
