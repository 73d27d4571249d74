//go:build unix

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

// TestVersionPlainBuild: a build without the commit (go build
// -buildvcs=false, as in a tarball of the source) says "dev", and still
// which Go and platform.
func TestVersionPlainBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsbridge")
	goBuild(t, repoDir, bin, "-buildvcs=false")
	want := "wsbridge dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if got := runVersion(t, bin); got != want {
		t.Errorf("--version: %q, want %q", got, want)
	}
}

// TestVersionFromGit: a build in a git clone says its commit and the
// commit's time; at a tag, the tag with the commit beside it; with files
// changed since, "+modified". The clone is made here from the working tree,
// so the test runs in a git worktree too (where Go stamps no commit).
func TestVersionFromGit(t *testing.T) {
	skipBuildsUnderRace(t)
	requireTool(t, "/usr/bin/git", "the commit a build is stamped with")
	src := copySource(t)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-01-02T15:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T15:04:05Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "test")
	rev := git("rev-parse", "HEAD")[:12]
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	bin := filepath.Join(t.TempDir(), "wsbridge")

	goBuild(t, src, bin, "-buildvcs=true")
	if got, want := runVersion(t, bin), "wsbridge "+rev+" (2026-01-02T15:04:05Z, "+platform+")\n"; got != want {
		t.Errorf("a commit: --version %q, want %q", got, want)
	}

	git("tag", "v1.2.3")
	goBuild(t, src, bin, "-buildvcs=true")
	if got, want := runVersion(t, bin), "wsbridge v1.2.3 ("+rev+", 2026-01-02T15:04:05Z, "+platform+")\n"; got != want {
		t.Errorf("a tag: --version %q, want %q", got, want)
	}

	if err := os.WriteFile(filepath.Join(src, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goBuild(t, src, bin, "-buildvcs=true")
	if got, want := runVersion(t, bin), "wsbridge v1.2.3+dirty ("+rev+"+modified, 2026-01-02T15:04:05Z, "+platform+")\n"; got != want {
		t.Errorf("a tag, files changed: --version %q, want %q", got, want)
	}
}

// copySource copies the repository's files (committed or not, as git
// lists them) into a new folder.
func copySource(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoDir, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(repoDir, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(repoDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func goBuild(t *testing.T, dir, bin string, flags ...string) {
	t.Helper()
	build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, ".")...)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", flags, err, out)
	}
}

func runVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	return string(out)
}

// skipBuildsUnderRace skips a test that builds wsbridge its own way in CI's
// second run, under the race detector: the first run checked it, and
// these builds are the slowest tests.
func skipBuildsUnderRace(t *testing.T) {
	if os.Getenv("WSBRIDGE_RACE") == "1" {
		t.Skip("builds its own binaries, not the race detector's: checked in the run without -race")
	}
}
