//go:build unix

package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// screenText is the terminal's whole buffer as the page holds it.
const screenText = `(() => {
	const b = window.wsbridge.term.buffer.active, lines = [];
	for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
	return lines.join("\n");
})()`

// waitScreen waits until the terminal's buffer contains want.
func waitScreen(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`window.wsbridge && `+screenText+`.includes(`+jsString(want)+`)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

// typeLine types text into the focused terminal and presses Enter, as a
// keyboard does. chromedp's KeyEvent sends a key down and a char event,
// which xterm.js takes as two keys (unshifted letters and Enter come twice):
// text goes in as an input event (CDP's insertText), Enter as a raw key.
func typeLine(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if text != "" {
			if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
				return err
			}
		}
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			enter := input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, enter); err != nil {
				return err
			}
		}
		return nil
	})
}

// grant gives every page these permissions.
func grant(names ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, name := range names {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name},
				Setting:    cdpbrowser.PermissionSettingGranted,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// screen is the terminal's text, for failure messages.
func screen(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](screenText))
	if err != nil {
		return err.Error()
	}
	return strings.TrimRight(s, "\n")
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// screenshot saves the page as PNG into $WSBRIDGE_SCREENSHOTS, if set, to be
// looked at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("WSBRIDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
}

// TestTerminalInBrowser drives the page in Chromium: type a command and read
// its output from the terminal's buffer, resize the window and see the
// program's terminal follow, set the title from the program, and exit to see
// the status and start a new session.
func TestTerminalInBrowser(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1000, 600),
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		typeLine("echo hello from $((6*7)) $TERM"),
		waitScreen("hello from 42 xterm-256color"),
	)
	if err != nil {
		t.Fatalf("typing a command: %v\nscreen:\n%s", err, screen(ctx))
	}
	cols, err1 := chromedp.Run(ctx, chromedp.Evaluate[int](`window.wsbridge.term.cols`))
	rows, err2 := chromedp.Run(ctx, chromedp.Evaluate[int](`window.wsbridge.term.rows`))
	if err1 != nil || err2 != nil || cols < 40 || rows < 10 {
		t.Fatalf("terminal %dx%d (%v %v)", cols, rows, err1, err2)
	}
	// The program's terminal has the page's size from the start.
	want := strings.Join([]string{strconv.Itoa(rows), strconv.Itoa(cols)}, " ")
	if err := chromedp.Do(ctx, typeLine("stty size"), waitScreen(want)); err != nil {
		t.Fatalf("stty size should say %q: %v", want, err)
	}

	// A smaller window: the terminal refits, and the program sees it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(640, 400),
		chromedp.Poll[chromedp.Void](`window.wsbridge.term.cols < `+strconv.Itoa(cols), chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the terminal did not follow the window: %v", err)
	}
	cols2, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.wsbridge.term.cols`))
	rows2, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.wsbridge.term.rows`))
	want2 := strconv.Itoa(rows2) + " " + strconv.Itoa(cols2)
	if err := chromedp.Do(ctx, typeLine("clear; stty size"), waitScreen(want2)); err != nil {
		t.Fatalf("after the resize stty size should say %q: %v", want2, err)
	}

	// The program sets the tab's title (OSC 2).
	if err := chromedp.Do(ctx, typeLine(`printf '\033]2;%s\007' "tab-$((40+2))"`),
		chromedp.Poll[chromedp.Void](`document.title === "tab-42"`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the title did not follow the program: %v", err)
	}

	// Wide characters take two cells (unicode11), and true colour and the
	// 256-colour palette reach the cells.
	if err := chromedp.Do(ctx, typeLine(`clear; printf '\033[38;2;255;100;0m中😀|\033[38;5;196m#\033[0m\n'`)); err != nil {
		t.Fatal(err)
	}
	cells, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const b = wsbridge.term.buffer.active;
		for (let y = 0; y < b.length; y++) {
			const line = b.getLine(y);
			if (!line.translateToString(true).startsWith("中")) continue;
			const c = (x) => line.getCell(x);
			return [c(0).getWidth(), c(2).getChars(), c(2).getWidth(), c(4).getChars(),
				c(0).isFgRGB(), c(0).getFgColor().toString(16),
				c(5).getChars(), c(5).isFgPalette(), c(5).getFgColor()].join(" ");
		}
		return "";
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || cells != "2 😀 2 | true ff6400 # true 196" {
		t.Fatalf("cells: %q %v", cells, err)
	}

	// Copy on select: selecting puts the text on the clipboard.
	err = chromedp.Do(ctx,
		grant("clipboard-read", "clipboard-write"),
		chromedp.Evaluate[chromedp.Void](`wsbridge.term.selectAll()`),
	)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(clip, "中😀|") {
		t.Fatalf("clipboard after selecting: %q %v", clip, err)
	}
	screenshot(t, ctx, "terminal.png")

	// Exit: the page says how, and Enter starts a new session.
	if err := chromedp.Do(ctx, typeLine("exit 3"),
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-status").textContent.includes("exit 3")`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the page did not show the exit status: %v", err)
	}
	screenshot(t, ctx, "terminal-exit.png")
	if err := chromedp.Do(ctx, typeLine(""),
		chromedp.Poll[chromedp.Void](`window.wsbridge.connected && document.getElementById("wsbridge-status").hidden`, chromedp.WithPollingTimeout(10*time.Second)),
		typeLine("echo second $((1+1))"),
		waitScreen("second 2"),
	); err != nil {
		t.Fatalf("a new session after the exit: %v", err)
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["status"] == "exit 3" })
}

// TestTerminalReconnects: when the server goes away the page says so and
// retries with backoff; when a server is back on the port, a new session
// starts on a clean terminal.
func TestTerminalReconnects(t *testing.T) {
	ctx := browser(t)
	args := []string{"--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i"}
	first := start(t, args...)
	port := first.Host[strings.LastIndexByte(first.Host, ':')+1:]
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+first.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		typeLine("echo first session"),
		waitScreen("first session"),
	)
	if err != nil {
		t.Fatalf("first session: %v", err)
	}
	first.stop()
	status := `document.getElementById("wsbridge-status").textContent`
	// "the server went away" (its 1001) until the first retry finds nobody
	// there, then "the connection was lost".
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`/^Disconnected: the (server went away|connection was lost)\. Reconnecting in \d+ s \(attempt \d+\)/.test(`+status+`)`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](status))
		t.Fatalf("the page did not say it reconnects: %v; status %q", err, text)
	}
	screenshot(t, ctx, "terminal-reconnecting.png")
	startOn(t, port, args...)
	err = chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`window.wsbridge.connected && document.getElementById("wsbridge-status").hidden`, chromedp.WithPollingTimeout(40*time.Second)),
		typeLine("echo second session"),
		waitScreen("second session"),
	)
	if err != nil {
		t.Fatalf("no new session after the server came back: %v", err)
	}
	if s := screen(ctx); strings.Contains(s, "first session") {
		t.Fatalf("the new session did not start on a clean terminal:\n%s", s)
	}
}

// TestTerminalCustomIndex: --index serves your page, which needs only to
// load the bundle; its own files come from --staticdir.
func TestTerminalCustomIndex(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	index := filepath.Join(dir, "index.html")
	os.WriteFile(index, []byte(`<!doctype html><html><head><title>custom</title>
<link rel="stylesheet" href="terminal.css"><link rel="stylesheet" href="mine.css">
<script src="terminal.js"></script></head><body><h1 id="banner">Our own page</h1></body></html>`), 0o644)
	os.WriteFile(filepath.Join(dir, "mine.css"), []byte(`#banner { color: rgb(1, 2, 3); }`), 0o644)
	inst := start(t, "--pty", "--index", index, "--staticdir", dir, "--", "/bin/sh", "-c", "echo custom-page-works; read x")
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		waitScreen("custom-page-works"),
	)
	if err != nil {
		t.Fatalf("custom page: %v", err)
	}
	color, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById("banner")).color`))
	if err != nil || color != "rgb(1, 2, 3)" {
		t.Fatalf("the page's own stylesheet: %q %v", color, err)
	}
}

// leave sends the page away (to about:blank) and says whether a "leave this
// page?" (beforeunload) dialog stopped it. The dialog is dismissed: the page
// stays.
func leave(t *testing.T, ctx context.Context) bool {
	t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dialog, gone := make(chan page.DialogType, 1), make(chan struct{}, 1)
	err := chromedp.Listen(lctx, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			select {
			case dialog <- ev.Type:
			default:
			}
		case *page.EventFrameNavigated:
			if ev.Frame.ParentID == "" && ev.Frame.URL == "about:blank" {
				select {
				case gone <- struct{}{}:
				default:
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Later, not in the evaluation: a beforeunload dialog holds the script
	// that navigates until it is answered.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`setTimeout(() => { location.href = "about:blank"; })`)); err != nil {
		t.Fatal(err)
	}
	select {
	case typ := <-dialog:
		if typ != page.DialogTypeBeforeunload {
			t.Fatalf("a %s dialog", typ)
		}
		if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false}); err != nil {
			t.Fatal(err)
		}
		return true
	case <-gone:
		return false
	case <-ctx.Done():
		t.Fatalf("neither a dialog nor about:blank: %v", ctx.Err())
	}
	return false
}

// TestTerminalLeavePrompt: while a session you can type into is live,
// leaving the page asks first (it would hang up the program); once the
// session has ended it does not, nor with --term-option disableLeaveAlert.
func TestTerminalLeavePrompt(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	connected := chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second))
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/"),
		connected,
		typeLine("echo typed $((40+2))"), // Chromium asks only on a page the user has used
		waitScreen("typed 42"),
	)
	if err != nil {
		t.Fatalf("typing a command: %v\nscreen:\n%s", err, screen(ctx))
	}
	if badge, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("wsbridge-readonly") !== null`)); err != nil || badge {
		t.Fatalf("a read-only badge on a writable session: %v %v", badge, err)
	}
	if !leave(t, ctx) {
		t.Fatal("leaving a live session did not ask")
	}
	if err := chromedp.Do(ctx, typeLine("echo still $((40+3))"), waitScreen("still 43")); err != nil {
		t.Fatalf("the session after staying: %v\nscreen:\n%s", err, screen(ctx))
	}
	if err := chromedp.Do(ctx, typeLine("exit"),
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-status").textContent.includes("exit 0")`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the page did not show the end: %v", err)
	}
	if leave(t, ctx) {
		t.Fatal("leaving after the session ended asked")
	}

	quiet := start(t, "--pty", "--term-option", "disableLeaveAlert=true", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://"+quiet.Host+"/"),
		connected,
		typeLine("echo typed $((40+4))"),
		waitScreen("typed 44"),
	)
	if err != nil {
		t.Fatalf("typing a command: %v\nscreen:\n%s", err, screen(ctx))
	}
	if leave(t, ctx) {
		t.Fatal("leaving asked despite disableLeaveAlert")
	}
}

// TestTerminalReadOnlyBadge: a --readonly page says so where it can be seen,
// and does not ask before leaving (nothing typed there can be lost).
func TestTerminalReadOnlyBadge(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--readonly", "--", "/bin/sh", "-c", `printf '\033[1;32m$\033[0m tail -f /var/log/app.log\n'; for i in 1 2 3; do echo "line $i: all quiet"; done; exec cat`)
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(900, 360),
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		waitScreen("line 3: all quiet"),
		chromedp.Click(chromedp.ID("terminal")), // a user gesture, so Chromium would ask
	)
	if err != nil {
		t.Fatalf("read-only page: %v\nscreen:\n%s", err, screen(ctx))
	}
	// The badge is there by the time the terminal is: shown, in the window.
	badge, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const b = document.getElementById("wsbridge-readonly");
		if (!b) return "no badge";
		const r = b.getBoundingClientRect(), st = getComputedStyle(b);
		const shown = r.width > 0 && r.height > 0 && r.top >= 0 && r.right <= innerWidth && st.visibility === "visible" && st.opacity === "1";
		return (shown ? "shown " : "hidden ") + b.textContent;
	})()`))
	if err != nil || badge != "shown Read-only" {
		t.Fatalf("badge: %q %v", badge, err)
	}
	screenshot(t, ctx, "terminal-readonly.png")
	if leave(t, ctx) {
		t.Fatal("leaving a read-only session asked")
	}
}

// TestTerminalURLOptions: the page's query sets the options the server
// allows (by default how it looks: fontSize, theme, …) over --term-option;
// others, and parameters that are no option, change nothing.
func TestTerminalURLOptions(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--term-option", "fontSize=12", "--term-option", "cursorStyle=bar", "--", "/bin/sh", "-c", "echo ready; exec cat")
	q := url.Values{
		"fontSize":     {"21"},
		"theme":        {`{"background":"#203040"}`},
		"lineHeight":   {"2"},      // not allowed by default
		"access_token": {"unused"}, // not an option
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/?"+q.Encode()),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		waitScreen("ready"),
	)
	if err != nil {
		t.Fatalf("page with options in its URL: %v\nscreen:\n%s", err, screen(ctx))
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const o = wsbridge.term.options;
		return JSON.stringify([o.fontSize, o.theme.background, o.cursorStyle, o.lineHeight]);
	})()`))
	if want := `[21,"#203040","bar",1]`; err != nil || got != want {
		t.Fatalf("options %s %v, want %s", got, err, want)
	}
}
