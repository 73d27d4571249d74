//go:build unix

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startVNC runs a real VNC server (Debian's Xtigervnc) on a loopback port
// and returns its address once it speaks RFB.
func startVNC(t *testing.T) string {
	t.Helper()
	requireTool(t, "/usr/bin/Xtigervnc", "Debian package tigervnc-standalone-server")
	var lastErr error
	for attempt := range 5 {
		display := 100 + (os.Getpid()+attempt*37)%800
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", display)); err == nil {
			continue // another X server has it
		}
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command("/usr/bin/Xtigervnc", fmt.Sprintf(":%d", display), "-rfbport", fmt.Sprint(port),
			"-localhost", "-SecurityTypes", "None", "-geometry", "640x480", "-desktop", "wsbridge-test",
			"-nolisten", "unix")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { // SIGTERM, so that it removes its lock file
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if lastErr = awaitRFB(addr, exited); lastErr == nil {
			t.Cleanup(stop)
			return addr
		}
		stop()
		lastErr = fmt.Errorf("%v\n%s", lastErr, out.String())
	}
	t.Fatalf("Xtigervnc did not start: %v", lastErr)
	return ""
}

// awaitRFB waits until addr greets with an RFB version, or the server exits.
func awaitRFB(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("Xtigervnc exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "RFB ") {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no RFB greeting on %s", addr)
}

// TestNoVNCInBrowser is the websockify use case end to end: Debian's noVNC
// served by --staticdir, a real VNC server behind --tcp, and Chromium
// connecting through wsbridge until the page says "Connected" and draws the
// remote screen.
func TestNoVNCInBrowser(t *testing.T) {
	requireTool(t, "/usr/share/novnc/vnc_lite.html", "Debian package novnc")
	ctx := browser(t)
	rfb := startVNC(t)
	inst := start(t, "--tcp", rfb, "--staticdir", "/usr/share/novnc")
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+inst.Host+"/vnc_lite.html?path=websockify"),
		chromedp.WaitVisible(`//div[@id="status"][. = "Connected to wsbridge-test"]`),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("browser: %v (status %q)\nwsbridge log:\n%s", err, status, inst.output())
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("#screen canvas").width`))
	if err != nil || width != 640 {
		t.Fatalf("the page's canvas is %d wide (%v), want the VNC screen's 640", width, err)
	}
	if dir := os.Getenv("WSBRIDGE_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(dir+"/novnc.png", png, 0o644)
		}
	}
}
