//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// The page's features beyond a plain terminal: images (sixel and the iTerm
// protocol), OSC 52 clipboard writes, search in the scrollback and the key
// bar on phones, each driven in Chromium against a real program.

var connected = chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second))

// stripes is a PNG of vertical stripes, one per colour, each w by h.
func stripes(t *testing.T, w, h int, colors ...color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w*len(colors), h))
	for x := range img.Rect.Dx() {
		for y := range h {
			img.SetRGBA(x, y, colors[x/w])
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// patch is where a colour shows in a screenshot: how many pixels have it
// and the box around them.
type patch struct {
	n   int
	box image.Rectangle
}

func findColor(img image.Image, want color.RGBA) patch {
	var p patch
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			// libsixel's palettes say 97% for full red (247 of 255).
			near := func(got uint32, want uint8) bool { d := int(got>>8) - int(want); return d >= -10 && d <= 10 }
			if !near(r, want.R) || !near(g, want.G) || !near(bl, want.B) {
				continue
			}
			if p.n == 0 {
				p.box = image.Rect(x, y, x+1, y+1)
			} else {
				p.box = p.box.Union(image.Rect(x, y, x+1, y+1))
			}
			p.n++
		}
	}
	return p
}

// TestTerminalImages: a sixel image from Debian's img2sixel and an iTerm
// inline image (OSC 1337) printed by the program show in the page, their
// pixels where and as big as they should be. (A sixel image leaves the
// cursor on the last line it covers: "echo" moves on, so that sixel-done
// does not cover the image's bottom.)
func TestTerminalImages(t *testing.T) {
	requireTool(t, "/usr/bin/img2sixel", "Debian package libsixel-bin")
	ctx := browser(t)
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	magenta := color.RGBA{255, 0, 255, 255}
	dir := t.TempDir()
	sixelPNG := filepath.Join(dir, "rgb.png")
	if err := os.WriteFile(sixelPNG, stripes(t, 40, 48, red, green, blue), 0o644); err != nil {
		t.Fatal(err)
	}
	iip := stripes(t, 60, 30, magenta)
	script := fmt.Sprintf(`img2sixel -d none %s && echo && echo sixel-done
printf '\033]1337;File=inline=1;size=%d:%s\a\n' && echo iip-done
exec cat`, sixelPNG, len(iip), base64.StdEncoding.EncodeToString(iip))
	inst := start(t, "--pty", "--", "/bin/sh", "-c", script)
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(800, 500),
		chromedp.Navigate("http://"+inst.Host+"/"),
		connected,
		waitScreen("iip-done"),
	)
	if err != nil {
		t.Fatalf("page: %v\nscreen:\n%s", err, screen(ctx))
	}
	// Drawn on the next frame or two: look until the patches are there.
	var stripesSeen [3]patch
	var pink patch
	deadline := time.Now().Add(20 * time.Second)
	for {
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range []color.RGBA{red, green, blue} {
			stripesSeen[i] = findColor(img, c)
		}
		pink = findColor(img, magenta)
		if stripesSeen[0].n > 0 && stripesSeen[1].n > 0 && stripesSeen[2].n > 0 && pink.n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	screenshot(t, ctx, "terminal-images.png")
	for i, p := range stripesSeen {
		// Each stripe whole (40x48 pixels), side by side, left to right.
		if p.n != 40*48 || p.box.Dx() != 40 || p.box.Dy() != 48 {
			t.Errorf("sixel stripe %d: %d pixels in %v, want 40x48", i, p.n, p.box)
		}
		if i > 0 && (p.box.Min.X != stripesSeen[i-1].box.Max.X || p.box.Min.Y != stripesSeen[i-1].box.Min.Y) {
			t.Errorf("sixel stripe %d at %v, not right of %v", i, p.box, stripesSeen[i-1].box)
		}
	}
	if pink.n != 60*30 || pink.box.Dx() != 60 || pink.box.Dy() != 30 || pink.box.Min.Y <= stripesSeen[0].box.Max.Y {
		t.Errorf("iTerm image: %d pixels in %v, want 60x30 below the sixel image (%v)", pink.n, pink.box, stripesSeen[0].box)
	}
}

// clipboardText reads the clipboard from the page (permissions granted).
func clipboardText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("reading the clipboard: %v", err)
	}
	return s
}

// focused makes the page behave as the focused window, which Chromium
// requires for the clipboard, whatever else happens on the machine's screen.
var focused = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
	return err
})

func setClipboard(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText(`+jsString(text)+`)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("writing the clipboard: %v", err)
	}
}

// TestTerminalOSC52: with --term-option clipboardWrite=true a program's
// OSC 52 puts text on the clipboard, and its request to read the clipboard
// gets nothing; without the option the clipboard stays as it was.
func TestTerminalOSC52(t *testing.T) {
	ctx := browser(t)
	// Two pages, one after the other, without "leave this page?" between.
	bash := []string{"--term-option", "disableLeaveAlert=true", "--", "/bin/bash", "--norc", "--noprofile", "-i"}
	text := "from the program ✓ " + newMarker()
	osc52 := `printf '\033]52;c;%s\a' ` + base64.StdEncoding.EncodeToString([]byte(text)) + `; echo sent-$((40+2))`

	allowed := start(t, append([]string{"--pty", "--term-option", "clipboardWrite=true"}, bash...)...)
	err := chromedp.Do(ctx,
		grant("clipboard-read", "clipboard-write"),
		focused,
		chromedp.Navigate("http://"+allowed.Host+"/"),
		connected,
	)
	if err != nil {
		t.Fatal(err)
	}
	setClipboard(t, ctx, "the user's secret")
	// Asked for the clipboard, the program hears it is empty.
	if err := chromedp.Do(ctx, typeLine(`printf '\033]52;c;?\a'; IFS= read -rs -d $'\a' reply; echo "reply=${reply#*;c;}=end"`),
		waitScreen("reply==end")); err != nil {
		t.Fatalf("the answer to a clipboard read: %v\nscreen:\n%s", err, screen(ctx))
	}
	if err := chromedp.Do(ctx, typeLine(osc52), waitScreen("sent-42")); err != nil {
		t.Fatal(err)
	}
	if got := clipboardText(t, ctx); got != text {
		t.Fatalf("OSC 52 did not reach the clipboard: it holds %q, want %q", got, text)
	}

	plain := start(t, append([]string{"--pty"}, bash...)...)
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://"+plain.Host+"/"),
		connected,
	)
	if err != nil {
		t.Fatal(err)
	}
	setClipboard(t, ctx, "unchanged")
	// An OSC 52 handler holds the output until its write is done, so once
	// sent-42 is on the screen a write would have landed.
	if err := chromedp.Do(ctx, typeLine(osc52), waitScreen("sent-42")); err != nil {
		t.Fatal(err)
	}
	if got := clipboardText(t, ctx); got != "unchanged" {
		t.Fatalf("without clipboardWrite the program wrote the clipboard: %q", got)
	}
}

// keyDown presses a key with modifiers (CDP's: Alt 1, Ctrl 2, Meta 4,
// Shift 8).
func keyDown(key, code string, vk int64, modifiers int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			ev := input.DispatchKeyEventParams{Type: typ, Modifiers: modifiers, Key: key, Code: code, WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertText types text as an input event, as a soft keyboard does.
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// TestTerminalSearch: Ctrl+Shift+F opens the search box; a word typed there
// is found in the scrollback, selected and scrolled to, without touching the
// clipboard; Escape closes the box and gives the keys back to the terminal.
func TestTerminalSearch(t *testing.T) {
	ctx := browser(t)
	inst := start(t, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	err := chromedp.Do(ctx,
		grant("clipboard-read", "clipboard-write"),
		focused,
		chromedp.EmulateViewport(900, 500),
		chromedp.Navigate("http://"+inst.Host+"/"),
		connected,
		typeLine(`echo "a needle-$((40+2)) in the hay"; seq 1000 1300`),
		waitScreen("1300"),
	)
	if err != nil {
		t.Fatalf("page: %v\nscreen:\n%s", err, screen(ctx))
	}
	setClipboard(t, ctx, "untouched")
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("wsbridge-search").hidden`)); err != nil || !hidden {
		t.Fatalf("the search box shows before it is asked for: %v %v", hidden, err)
	}
	err = chromedp.Do(ctx,
		keyDown("F", "KeyF", 70, 2|8),
		chromedp.Poll[chromedp.Void](`!document.getElementById("wsbridge-search").hidden && document.activeElement === document.querySelector("#wsbridge-search input")`,
			chromedp.WithPollingTimeout(10*time.Second)),
		insertText("needle-42"),
		chromedp.Poll[chromedp.Void](`wsbridge.term.getSelection() === "needle-42"`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		sel, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`wsbridge.term.getSelection()`))
		t.Fatalf("searching: %v; selection %q", err, sel)
	}
	screenshot(t, ctx, "terminal-search.png")
	// The match is in the scrollback: the view went up to it.
	view, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const b = wsbridge.term.buffer.active, pos = wsbridge.term.getSelectionPosition();
		return [b.viewportY < b.baseY, pos.start.y >= b.viewportY && pos.start.y < b.viewportY + wsbridge.term.rows].join(" ");
	})()`))
	if err != nil || view != "true true" {
		t.Fatalf("scrolled up, match in view: %q %v", view, err)
	}
	if got := clipboardText(t, ctx); got != "untouched" {
		t.Fatalf("a search match went to the clipboard: %q", got)
	}
	err = chromedp.Do(ctx,
		keyDown("Escape", "Escape", 27, 0),
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-search").hidden && document.activeElement === wsbridge.term.textarea`,
			chromedp.WithPollingTimeout(10*time.Second)),
		typeLine("echo back to $((6*7)) the shell"),
		waitScreen("back to 42 the shell"),
	)
	if err != nil {
		t.Fatalf("after Escape: %v\nscreen:\n%s", err, screen(ctx))
	}
}

// TestTerminalKeyBar: on a desktop there is no key bar; on a phone (touch,
// small screen) there is, its Ctrl is sticky and Ctrl then c interrupts the
// program, and its other keys send what the keys would.
func TestTerminalKeyBar(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "Debian package python3")
	ctx := browser(t)
	// A program that says what it got, byte by byte, and what interrupted it.
	script := `import os, signal, sys, tty
signal.signal(signal.SIGINT, lambda *a: (print("interrupted by ctrl-c", flush=True), sys.exit(0)))
print("ready", flush=True)
mode = tty.tcgetattr(0); mode[3] &= ~(tty.ICANON | tty.ECHO); tty.tcsetattr(0, tty.TCSANOW, mode)
while True:
    print("got " + os.read(0, 64).hex(), flush=True)
`
	// The same page twice, without "leave this page?" in between.
	inst := start(t, "--pty", "--term-option", "disableLeaveAlert=true", "--", "/usr/bin/python3", "-c", script)
	bar := `document.getElementById("wsbridge-keybar")`
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1000, 600),
		chromedp.Navigate("http://"+inst.Host+"/"),
		connected,
		waitScreen("ready"),
	)
	if err != nil {
		t.Fatalf("desktop page: %v\nscreen:\n%s", err, screen(ctx))
	}
	if none, err := chromedp.Run(ctx, chromedp.Evaluate[bool](bar+` === null`)); err != nil || !none {
		t.Fatalf("a key bar on the desktop: %v %v", !none, err)
	}

	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 740, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate("http://"+inst.Host+"/"),
		connected,
		waitScreen("ready"),
	)
	if err != nil {
		t.Fatalf("phone page: %v\nscreen:\n%s", err, screen(ctx))
	}
	// The bar is shown under the terminal, which ends where it starts, and
	// the page asks to shrink for the soft keyboard, so both stay above it.
	layout, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const b = `+bar+`.getBoundingClientRect(), t = document.getElementById("terminal").getBoundingClientRect();
		const resizes = document.querySelector('meta[name="viewport"]').content.includes("interactive-widget=resizes-content");
		return [b.height > 30, b.bottom === innerHeight, t.bottom === b.top, b.width === innerWidth, resizes].join(" ");
	})()`))
	if err != nil || layout != "true true true true true" {
		t.Fatalf("key bar layout (tall enough, at the bottom, under the terminal, full width; the page shrinks for the keyboard): %q %v", layout, err)
	}
	key := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Tap(chromedp.CSS(`#wsbridge-keybar button[data-key="` + name + `"]`))
	}
	for _, k := range []struct{ key, got string }{
		{"esc", "got 1b\n"}, {"tab", "got 09\n"}, {"|", "got 7c\n"}, {"~", "got 7e\n"}, {"/", "got 2f\n"},
		{"up", "got 1b5b41\n"}, {"left", "got 1b5b44\n"},
	} {
		if err := chromedp.Do(ctx, key(k.key), waitScreen(k.got)); err != nil {
			t.Fatalf("key %s should send %q: %v\nscreen:\n%s", k.key, k.got, err, screen(ctx))
		}
	}
	// Ctrl applies to the next key, then lets go.
	ctrlOn := `document.querySelector('#wsbridge-keybar button[data-key="ctrl"]').getAttribute("aria-pressed") === "true"`
	err = chromedp.Do(ctx,
		key("ctrl"),
		chromedp.Poll[chromedp.Void](ctrlOn, chromedp.WithPollingTimeout(10*time.Second)),
		key("right"),
		waitScreen("got 1b5b313b3543\n"),
		chromedp.Poll[chromedp.Void](`!(`+ctrlOn+`)`, chromedp.WithPollingTimeout(10*time.Second)),
		insertText("c"),
		waitScreen("got 63\n"),
	)
	if err != nil {
		t.Fatalf("Ctrl+→, then a plain c: %v\nscreen:\n%s", err, screen(ctx))
	}
	screenshot(t, ctx, "terminal-keybar.png")
	if err := chromedp.Do(ctx, key("ctrl"), insertText("c"), waitScreen("interrupted by ctrl-c")); err != nil {
		t.Fatalf("Ctrl then c did not interrupt the program: %v\nscreen:\n%s", err, screen(ctx))
	}
	inst.waitLog(func(m map[string]any) bool { return m["msg"] == "session" && m["status"] == "exit 0" })
	if s := screen(ctx); strings.Contains(s, "got 03") {
		t.Fatalf("^C reached the program as a byte, not as the terminal's interrupt:\n%s", s)
	}
}
