//go:build unix

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The page's file transfer: lrzsz's rz and sz (ZMODEM) and trzsz's trz,
// found in the output, with 5 MB files: twenty flow windows, so a transfer
// whose bytes were not acknowledged would stall.

const transferSize = 5 << 20

// randomFile writes n random bytes to a new file in dir.
func randomFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSum(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(data)
	return sum[:]
}

// waitSameFile waits until got holds what want holds.
func waitSameFile(t *testing.T, ctx context.Context, got, want string) {
	t.Helper()
	sum := fileSum(want)
	deadline := time.Now().Add(45 * time.Second)
	for !bytes.Equal(fileSum(got), sum) {
		if time.Now().After(deadline) {
			st, err := os.Stat(got)
			t.Fatalf("%s never matched %s (SHA-256): %v %v\nscreen:\n%s", got, want, st, err, screen(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// transferShell starts a shell on the page in dir, with the page open.
func transferShell(t *testing.T, dir string, extra ...string) (context.Context, *instance) {
	t.Helper()
	requireTool(t, "/usr/bin/rz", "Debian package lrzsz")
	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	args := append(extra, "--pty", "--", "/bin/bash", "--norc", "--noprofile", "-i")
	inst := startIn(t, dir, args...)
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/"),
		chromedp.Poll[chromedp.Void](`window.wsbridge && window.wsbridge.connected`, chromedp.WithPollingTimeout(20*time.Second)),
		typeLine(`PS1='\n[\#]\$ '; echo ready $((20+1))`), // a prompt on a line of its own
		waitScreen("ready 21"),
	)
	if err != nil {
		t.Fatalf("the shell on the page: %v\nscreen:\n%s", err, screen(ctx))
	}
	return ctx, inst
}

// pickerShown waits for the page's file picker.
var pickerShown = chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-transfer") && !document.getElementById("wsbridge-transfer").hidden`,
	chromedp.WithPollingTimeout(20*time.Second))

var filePicker = chromedp.CSS(`#wsbridge-transfer input[type=file]`)

// stillUsable checks that the shell answers a command after a transfer:
// once the page's transfer is over and the shell has prompted again (keys
// typed before rz or sz has exited would be theirs).
func stillUsable(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	prompted := `!window.wsbridge.transferring && /^\[\d+\][$#]$/.test(` + screenText + `.trimEnd().split("\n").pop())`
	err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](prompted, chromedp.WithPollingTimeout(30*time.Second)),
		typeLine("echo usable $((40+2))"),
		waitScreen("usable 42"),
	)
	if err != nil {
		t.Fatalf("the shell after %s: %v\nscreen:\n%s", what, err, screen(ctx))
	}
}

// TestTerminalZmodemUpload: rz in the page's shell shows a file picker; the
// file chosen arrives whole.
func TestTerminalZmodemUpload(t *testing.T) {
	dir, src := t.TempDir(), t.TempDir()
	file := randomFile(t, src, "upload.bin", transferSize)
	ctx, _ := transferShell(t, dir)
	if err := chromedp.Do(ctx, typeLine("rz"), pickerShown,
		chromedp.SetUploadFiles(filePicker, []string{file}),
	); err != nil {
		t.Fatalf("rz's file picker: %v\nscreen:\n%s", err, screen(ctx))
	}
	waitSameFile(t, ctx, filepath.Join(dir, "upload.bin"), file)
	stillUsable(t, ctx, "rz")
}

// TestTerminalZmodemDownload: sz in the page's shell downloads the file.
func TestTerminalZmodemDownload(t *testing.T) {
	dir, downloads := t.TempDir(), t.TempDir()
	file := randomFile(t, dir, "download.bin", transferSize)
	ctx, _ := transferShell(t, dir)
	err := chromedp.Do(ctx,
		downloadTo(downloads),
		typeLine("sz download.bin"),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitSameFile(t, ctx, filepath.Join(downloads, "download.bin"), file)
	stillUsable(t, ctx, "sz")
}

// TestTerminalZmodemCancel: cancelling rz's file picker ends rz, and the
// shell goes on; so does Ctrl+C during sz's download, and no file is saved.
func TestTerminalZmodemCancel(t *testing.T) {
	dir, downloads := t.TempDir(), t.TempDir()
	randomFile(t, dir, "big.bin", 64<<20)
	ctx, _ := transferShell(t, dir)
	err := chromedp.Do(ctx,
		protocol(page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true, Cancel: ptr(true)}),
		typeLine("rz"), pickerShown,
		chromedp.Click(filePicker), // the picker opens and is cancelled
		chromedp.Poll[chromedp.Void](`document.getElementById("wsbridge-transfer").hidden`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		t.Fatalf("cancelling rz's picker: %v\nscreen:\n%s", err, screen(ctx))
	}
	stillUsable(t, ctx, "a cancelled rz")

	// Ctrl+C once the download is under way.
	err = chromedp.Do(ctx,
		downloadTo(downloads),
		typeLine("sz big.bin"),
		waitScreen("big.bin: "),
		ctrlC,
	)
	if err != nil {
		t.Fatalf("sz: %v\nscreen:\n%s", err, screen(ctx))
	}
	stillUsable(t, ctx, "a cancelled sz")
	if names, _ := filepath.Glob(filepath.Join(downloads, "*")); len(names) != 0 {
		t.Fatalf("a cancelled download saved %v", names)
	}
}

// TestTerminalZmodemOff: --term-option enableZmodem=false leaves rz's
// start on the screen, as a terminal without ZMODEM shows it.
func TestTerminalZmodemOff(t *testing.T) {
	ctx, _ := transferShell(t, t.TempDir(), "--term-option", "enableZmodem=false")
	if err := chromedp.Do(ctx, typeLine("rz"), waitScreen("B0100")); err != nil {
		t.Fatalf("rz's header on the screen: %v\nscreen:\n%s", err, screen(ctx))
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("wsbridge-transfer").hidden`))
	if err != nil || shown {
		t.Fatalf("a file picker with ZMODEM off: %v %v", shown, err)
	}
}

func ptr[T any](v T) *T { return &v }

// protocol is an action that sends one DevTools command.
func protocol[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cmd, params)
		return err
	})
}

// downloadTo saves the page's downloads in dir.
func downloadTo(dir string) chromedp.Action[chromedp.Void] {
	return protocol(cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	})
}

// ctrlC presses Ctrl+C in the focused terminal, as a keyboard does.
var ctrlC = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		key := input.DispatchKeyEventParams{Type: typ, Key: "c", Code: "KeyC", Modifiers: 2 /* Ctrl */, WindowsVirtualKeyCode: 67, NativeVirtualKeyCode: 67}
		if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, key); err != nil {
			return err
		}
	}
	return nil
})

// TestTerminalTrzszUpload: files dropped on the terminal go up by trzsz:
// the page types trz, and trz (trzsz's own, from the npm package the page
// bundles) saves them.
func TestTerminalTrzszUpload(t *testing.T) {
	trz := filepath.Join(repoDir, "web/terminal/node_modules/trzsz/bin/trz.js")
	requireTool(t, trz, "trzsz's trz: web/terminal/build.sh installs it")
	node, err := exec.LookPath("node") // build.sh's npm needs it too
	if err != nil {
		node = "/usr/bin/node"
	}
	requireTool(t, node, "Debian package nodejs")
	dir, src, bin := t.TempDir(), t.TempDir(), t.TempDir()
	file := randomFile(t, src, "dropped.bin", transferSize)
	if err := os.WriteFile(filepath.Join(bin, "trz"), []byte("#!/bin/sh\nexec "+node+" "+trz+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transferShell(t, dir)
	if err := chromedp.Do(ctx, typeLine("PATH="+bin+":$PATH; type trz"), waitScreen("trz is "+bin)); err != nil {
		t.Fatal(err)
	}
	drop := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{file}, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			ev := input.DispatchDragEventParams{Type: typ, X: 200, Y: 150, Data: data}
			if _, err := cdp.Call(ctx, tg, input.DispatchDragEvent, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err := chromedp.Do(ctx, drop); err != nil {
		t.Fatalf("dropping a file: %v", err)
	}
	waitSameFile(t, ctx, filepath.Join(dir, "dropped.bin"), file)
	stillUsable(t, ctx, "trz")
}
