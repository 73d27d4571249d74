//go:build unix

package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tree makes a folder with files (mode 0755 for names ending in .sh) and an
// outside secret reachable through a symlink.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "served")
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("outside"), 0o644)
	os.WriteFile(filepath.Join(base, "secret.sh"), []byte("#!/bin/sh\necho outside\n"), 0o755)
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "link.txt"))
	os.Symlink(filepath.Join(base, "secret.sh"), filepath.Join(dir, "link.sh"))
	return dir
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestDirServesScriptsByPath(t *testing.T) {
	dir := tree(t, map[string]string{
		"hello.sh":       "#!/bin/sh\necho \"hello $SCRIPT_NAME $PATH_INFO\"\n",
		"sub/deep.sh":    "#!/bin/sh\necho deep\n",
		"plain.txt":      "not executable",
		".hidden/run.sh": "#!/bin/sh\necho hidden\n",
	})
	inst := start(t, "--dir", dir)
	r := readAll(t, inst.dial("/hello.sh/extra/info", nil))
	if strings.Join(r.texts, "|") != "hello /hello.sh /extra/info" || r.code != 1000 {
		t.Errorf("hello.sh: %q close %d", r.texts, r.code)
	}
	r = readAll(t, inst.dial("/sub/deep.sh", nil))
	if strings.Join(r.texts, "|") != "deep" {
		t.Errorf("sub/deep.sh: %q", r.texts)
	}
	// Every failure is an HTTP answer before the upgrade, not a dropped socket.
	for path, want := range map[string]int{
		"/missing.sh":       404,
		"/plain.txt":        403,
		"/sub":              404,
		"/.hidden/run.sh":   404,
		"/link.sh":          404, // a symlink out of the folder
		"/../secret.sh":     404,
		"/%2e%2e/secret.sh": 404,
	} {
		if got, _ := handshakeStatus(t, inst.URL+path, nil); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
}

func TestStaticDirIsConfined(t *testing.T) {
	dir := tree(t, map[string]string{
		"index.html":      "<h1>home</h1>",
		"app.js":          "console.log(1)",
		".env":            "SECRET=1",
		".git/config":     "[core]",
		"nolisting/a.txt": "a",
	})
	inst := start(t, "--staticdir", dir, "/bin/cat")
	base := "http://" + inst.Host
	if code, body := get(t, base+"/"); code != 200 || body != "<h1>home</h1>" {
		t.Errorf("/: %d %q", code, body)
	}
	if code, body := get(t, base+"/app.js"); code != 200 || body != "console.log(1)" {
		t.Errorf("/app.js: %d %q", code, body)
	}
	for _, path := range []string{"/.env", "/.git/config", "/nolisting/", "/link.txt", "/../secret.txt", "/missing"} {
		if code, body := get(t, base+path); code != 404 || strings.Contains(body, "SECRET") || strings.Contains(body, "outside") || strings.Contains(body, "a.txt") {
			t.Errorf("%s: %d %q, want 404", path, code, body)
		}
	}
	// The WebSocket endpoint still works beside the files.
	c := inst.dial("/", nil)
	c.WriteMessage(websocket.TextMessage, []byte("x"))
	expectMessage(t, c, websocket.TextMessage, "x")
}

func TestCGIDirIsConfined(t *testing.T) {
	dir := tree(t, map[string]string{
		"hello.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"cgi $QUERY_STRING $PATH_INFO\"\n",
	})
	inst := start(t, "--cgidir", dir, "/bin/cat")
	base := "http://" + inst.Host
	if code, body := get(t, base+"/hello.sh/p?q=1"); code != 200 || body != "cgi q=1 /p\n" {
		t.Errorf("hello.sh: %d %q", code, body)
	}
	for _, path := range []string{"/link.sh", "/../secret.sh", "/missing.sh"} {
		if code, body := get(t, base+path); code == 200 || strings.Contains(body, "outside") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

// TestRelativeCGIDir: a relative --cgidir is taken from wsbridge's working
// directory, though each script runs inside the folder.
func TestRelativeCGIDir(t *testing.T) {
	dir := tree(t, map[string]string{
		"pwd.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\npwd\n",
	})
	inst := startIn(t, filepath.Dir(dir), "--cgidir", "served", "/bin/cat")
	if code, body := get(t, "http://"+inst.Host+"/pwd.sh"); code != 200 || body != dir+"\n" {
		t.Errorf("pwd.sh: %d %q, want 200 %q", code, body, dir+"\n")
	}
}

// TestCGIDirMissingScriptIs404: under --cgidir a path that names no script
// is 404, as websocketd answers; the root, which names none, still says
// what the server is (426).
func TestCGIDirMissingScriptIs404(t *testing.T) {
	dir := tree(t, map[string]string{
		"hello.sh":  "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello'\n",
		"sub/x.txt": "not a script",
	})
	inst := start(t, "--cgidir", dir, "/bin/cat")
	base := "http://" + inst.Host
	for path, want := range map[string]int{
		"/hello.sh":    200,
		"/missing.sh":  404,
		"/sub/none.sh": 404,
		"/sub":         404,
		"/.hidden.sh":  404,
		"/link.sh":     404,
		"/sub/x.txt":   403,
		"/":            426,
		"/favicon.ico": 404,
	} {
		if code, _ := get(t, base+path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	// A WebSocket still opens at any path, as without --cgidir.
	c := inst.dial("/missing.sh", nil)
	c.WriteMessage(websocket.TextMessage, []byte("x"))
	expectMessage(t, c, websocket.TextMessage, "x")
}

func TestDevConsolePage(t *testing.T) {
	inst := start(t, "--devconsole", "/bin/cat")
	resp, err := http.Get("http://" + inst.Host + "/any/path")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "wsbridge dev console") {
		t.Fatalf("%d %q", resp.StatusCode, body[:min(len(body), 200)])
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("no CSP: %v", resp.Header)
	}
}

// cgiEnvTree is a --cgidir with env.sh, a CGI script that answers with
// the environment it was started with (examples/env.sh), one variable a line.
func cgiEnvTree(t *testing.T) string {
	t.Helper()
	return tree(t, map[string]string{
		"env.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nexec " + example("env.sh") + "\n",
	})
}

// cgiEnv requests a CGI script that prints its environment and returns it.
func cgiEnv(t *testing.T, url string, header http.Header) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v // as given: underscores stay underscores
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %q", url, resp.StatusCode, body)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestCGIHeaderWithUnderscoresCannotPoseAsDashed(t *testing.T) {
	inst := start(t, "--cgidir", cgiEnvTree(t), "/bin/cat")
	url := "http://" + inst.Host + "/env.sh"
	env := cgiEnv(t, url, http.Header{"X_Forwarded_User": {"mallory"}, "X_Only_Underscores": {"sneaky"}})
	for _, k := range []string{"HTTP_X_FORWARDED_USER", "HTTP_X_ONLY_UNDERSCORES"} {
		if v, ok := env[k]; ok {
			t.Errorf("a header spelled with underscores reached the script as %s=%q", k, v)
		}
	}
	// Sent beside its dashed twin, it never wins.
	for range 5 {
		env = cgiEnv(t, url, http.Header{"X_Forwarded_User": {"mallory"}, "X-Forwarded-User": {"alice"}})
		if env["HTTP_X_FORWARDED_USER"] != "alice" {
			t.Fatalf("HTTP_X_FORWARDED_USER=%q, want alice", env["HTTP_X_FORWARDED_USER"])
		}
	}
}

// hangingCGI is a --cgidir whose hang.sh answers "started" (and 8 KiB,
// more than any buffer holds back), then hangs
// with a background child; both ignore SIGINT and SIGTERM, so only the
// ladder's SIGKILL to the whole group ends them. quick.sh answers at once.
// (Their stderr is not wsbridge's, so that a leftover, the failure looked
// for, can't keep the harness waiting for wsbridge's log to end.)
func hangingCGI(t *testing.T, mark string) string {
	t.Helper()
	t.Cleanup(func() { killProcesses(mark) })
	return tree(t, map[string]string{
		"hang.sh":  "#!/bin/sh\nexec 2>/dev/null\ntrap '' INT TERM\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep " + mark + " &\necho started\nprintf '%8192s\\n'\nsleep " + mark + "\n",
		"quick.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nquick\\n'\n",
	})
}

// startHanging requests hang.sh and returns once the script has answered
// "started" and both its sleeps run.
func startHanging(t *testing.T, inst *instance, mark string) *http.Response {
	t.Helper()
	transport := &http.Transport{ResponseHeaderTimeout: 10 * time.Second}
	resp, err := (&http.Client{Transport: transport}).Get("http://" + inst.Host + "/hang.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		resp.Body.Close()
		transport.CloseIdleConnections()
	})
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != 200 || line != "started\n" {
		t.Fatalf("hang.sh: %d %q %v", resp.StatusCode, line, err)
	}
	waitProcesses(t, "sleep\x00"+mark, 2)
	return resp
}

func TestCGIScriptEndsWithItsClient(t *testing.T) {
	mark := newMarker()
	inst := start(t, "--maxforks", "1", "--closems", "50", "--cgidir", hangingCGI(t, mark), "/bin/cat")
	resp := startHanging(t, inst, mark)
	if code, _ := get(t, "http://"+inst.Host+"/quick.sh"); code != http.StatusTooManyRequests {
		t.Fatalf("a second script while one runs under --maxforks 1: %d", code)
	}
	resp.Body.Close() // the client leaves
	waitNoProcesses(t, mark)
	// Its slot is free again.
	for i := 0; ; i++ {
		code, body := get(t, "http://"+inst.Host+"/quick.sh")
		if code == 200 && body == "quick\n" {
			break
		}
		if i == 250 {
			t.Fatalf("after the script was stopped: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if kids := childrenOf(inst.cmd.Process.Pid); len(kids) != 0 {
		t.Fatalf("unreaped children: %v", kids)
	}
}

func TestCGIScriptEndsWithTheServer(t *testing.T) {
	mark := newMarker()
	inst := start(t, "--closems", "50", "--cgidir", hangingCGI(t, mark), "/bin/cat")
	startHanging(t, inst, mark)
	inst.stop()
	if inst.err != nil {
		t.Errorf("wsbridge exit: %v", inst.err)
	}
	waitNoProcesses(t, mark)
}

// linkTree makes base/served with symlinks that stay inside it (absolute,
// relative, a folder, a chain) and others that leave it for base/outside,
// and base/www, a symlink to served. Scripts answer "inside" or "outside"
// (with a CGI header under --cgidir).
func linkTree(t *testing.T) (base string) {
	t.Helper()
	base = t.TempDir()
	script := func(word string) string {
		return "#!/bin/sh\n[ -n \"$SCRIPT_FILENAME\" ] && printf 'Content-Type: text/plain\\r\\n\\r\\n'\necho " + word + "\n"
	}
	for name, body := range map[string]string{
		"served/in.txt":       "inside",
		"served/.env":         "SECRET=1",
		"served/s.sh":         script("inside"),
		"served/real/a.txt":   "inside a",
		"served/real/a.sh":    script("inside a"),
		"outside/secret.txt":  "outside",
		"outside/secret.sh":   script("outside"),
		"outside/dir/b.txt":   "outside b",
		"outside/dir/b.sh":    script("outside b"),
		"served/sub/deep.txt": "deep",
	} {
		p := filepath.Join(base, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"www":                  "served",
		"served/abs-in.txt":    filepath.Join(base, "served/in.txt"),
		"served/abs-www.txt":   filepath.Join(base, "www/in.txt"), // through the folder's own link
		"served/rel-in.txt":    "in.txt",
		"served/sub/up.txt":    "../in.txt",
		"served/abs-out.txt":   filepath.Join(base, "outside/secret.txt"),
		"served/rel-out.txt":   "../outside/secret.txt",
		"served/alias":         filepath.Join(base, "served/real"),
		"served/outdir":        filepath.Join(base, "outside/dir"),
		"served/chain-in.txt":  "abs-in.txt",
		"served/chain-out.txt": "sub/hop.txt",
		"served/sub/hop.txt":   "../rel-out.txt",
		"served/dot.txt":       ".env",
		"served/abs-in.sh":     filepath.Join(base, "served/s.sh"),
		"served/rel-in.sh":     "s.sh",
		"served/abs-out.sh":    filepath.Join(base, "outside/secret.sh"),
		"served/rel-out.sh":    "../outside/secret.sh",
		"served/chain-out.sh":  "rel-out.sh",
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// TestStaticDirFollowsLinksInside: a symlink is served when what it points
// to (followed to the end) is inside the folder, absolute or not, as
// websocketd serves it; one that ends outside, or on a dotfile, is 404.
func TestStaticDirFollowsLinksInside(t *testing.T) {
	base := linkTree(t)
	inst := start(t, "--staticdir", filepath.Join(base, "www"), "/bin/cat")
	for path, want := range map[string]string{
		"/in.txt":        "inside",
		"/abs-in.txt":    "inside",
		"/abs-www.txt":   "inside",
		"/rel-in.txt":    "inside",
		"/sub/up.txt":    "inside",
		"/alias/a.txt":   "inside a",
		"/chain-in.txt":  "inside",
		"/abs-out.txt":   "",
		"/rel-out.txt":   "",
		"/outdir/b.txt":  "",
		"/chain-out.txt": "",
		"/sub/hop.txt":   "",
		"/dot.txt":       "",
		"/alias/":        "", // a folder: no listing
	} {
		code, body := get(t, "http://"+inst.Host+path)
		if want == "" && code != 404 || want != "" && (code != 200 || body != want) {
			t.Errorf("%s: %d %q, want %q", path, code, body, want)
		}
	}
}

// TestScriptDirsFollowLinksInside: --dir and --cgidir run a script through
// a symlink that ends inside the folder, and not one that ends outside.
func TestScriptDirsFollowLinksInside(t *testing.T) {
	base := linkTree(t)
	dir := filepath.Join(base, "served")
	want := map[string]string{
		"/s.sh":         "inside",
		"/abs-in.sh":    "inside",
		"/rel-in.sh":    "inside",
		"/alias/a.sh":   "inside a",
		"/abs-out.sh":   "",
		"/rel-out.sh":   "",
		"/outdir/b.sh":  "",
		"/chain-out.sh": "",
	}
	ws := start(t, "--dir", dir)
	cgi := start(t, "--cgidir", dir, "/bin/cat")
	for path, w := range want {
		if w == "" {
			if code, _ := handshakeStatus(t, ws.URL+path, nil); code != 404 {
				t.Errorf("--dir %s: %d, want 404", path, code)
			}
		} else if r := readAll(t, ws.dial(path, nil)); strings.Join(r.texts, "|") != w {
			t.Errorf("--dir %s: %q, want %q", path, r.texts, w)
		}
		code, body := get(t, "http://"+cgi.Host+path)
		if w == "" && code != 404 || w != "" && (code != 200 || body != w+"\n") {
			t.Errorf("--cgidir %s: %d %q, want %q", path, code, body, w)
		}
	}
}

// TestCGIKeepAlive: scripts asked for one after another on one kept-alive
// connection each run to their end. (The end of one request once cut the
// connection's reads short, which ended every later request's context at
// its start: their scripts got the ladder 100 ms in.)
func TestCGIKeepAlive(t *testing.T) {
	inst := start(t, "--cgidir", tree(t, map[string]string{
		"slow.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep 0.4\necho done\n",
	}), "/bin/cat")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var conns []string
	for i := range 3 {
		var local string
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+inst.Host+"/slow.sh", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "done\n" {
			t.Errorf("request %d: %d %q, want the script's done", i+1, resp.StatusCode, body)
		}
		conns = append(conns, local)
	}
	if conns[0] != conns[1] || conns[1] != conns[2] {
		t.Errorf("the requests went over connections %v, want one kept alive", conns)
	}
}
