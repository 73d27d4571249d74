package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionShowsRevision: a binary built in a git clone says which commit
// it was built from (or its release tag), with which Go, for which platform.
// The harness's binary can't show it: go run, and this machine's
// GOFLAGS=-buildvcs=false, build without the commit.
func TestVersionShowsRevision(t *testing.T) {
	if fi, err := os.Stat(filepath.Join(repoDir, ".git")); err != nil || !fi.IsDir() {
		// Go looks for a .git folder; a git worktree has a .git file.
		t.Skip("not a git clone: Go stamps the commit only where .git is a folder")
	}
	head, err := exec.Command("git", "-C", repoDir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	want := string(head[:12])
	if tag, err := exec.Command("git", "-C", repoDir, "describe", "--tags", "--exact-match").Output(); err == nil {
		want = strings.TrimSpace(string(tag)) // a build of a tagged commit shows the tag
	}
	bin := filepath.Join(t.TempDir(), "wsbridge")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Dir = repoDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	got := string(out)
	if !strings.HasPrefix(got, "wsbridge "+want) {
		t.Errorf("--version: %q, want it to start with %q", got, "wsbridge "+want)
	}
	if platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH; !strings.Contains(got, platform) {
		t.Errorf("--version: %q, want %q in it", got, platform)
	}
}
