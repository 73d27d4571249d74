//go:build unix

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestReleaseScript: scripts/release for this machine's Linux target makes
// an archive with the binary, LICENSE, README, man page and completions, a
// .deb that puts them where Debian looks, and SHA256SUMS that hold for
// both; a second run makes the same bytes. .ci/run builds every target.
func TestReleaseScript(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the release script runs on Linux (GNU tar, dpkg-deb)")
	}
	skipBuildsUnderRace(t)
	requireTool(t, "/usr/bin/git", "the release's version is its commit")
	requireTool(t, "/usr/bin/dpkg-deb", "the release's Debian package")
	if err := exec.Command("git", "-C", repoDir, "rev-parse", "HEAD").Run(); err != nil {
		t.Skip("not a git checkout: the release script versions a commit")
	}
	head, err := exec.Command("git", "-C", repoDir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := string(head[:12])
	target := "linux/" + runtime.GOARCH

	release := func() string {
		dist := t.TempDir()
		cmd := exec.Command(filepath.Join(repoDir, "scripts", "release"), "--dist", dist, target)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/release: %v\n%s", err, out)
		}
		return dist
	}
	dist := release()

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: %q is not SUM  NAME", line)
		}
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatalf("SHA256SUMS names %s: %v", name, err)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s is %x, the file says %s", name, got, sum)
		}
		names = append(names, name)
	}
	entries, _ := os.ReadDir(dist)
	if len(entries) != len(names)+1 {
		t.Errorf("dist holds %d files, SHA256SUMS names %d: %v", len(entries), len(names), names)
	}

	var archive, deb string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "_"+strings.ReplaceAll(target, "/", "_")+".tar.gz"):
			archive = name
		case strings.HasSuffix(name, "_"+runtime.GOARCH+".deb"):
			deb = name
		}
	}
	if archive == "" || deb == "" {
		t.Fatalf("want a %s archive and a .deb, got %v", target, names)
	}

	// The archive: one folder named like itself, with everything in it.
	dir := strings.TrimSuffix(archive, ".tar.gz")
	files := untar(t, filepath.Join(dist, archive))
	var got []string
	for name := range files {
		got = append(got, name)
	}
	slices.Sort(got)
	want := []string{"LICENSE", "README.md", "completions/", "completions/_wsbridge", "completions/wsbridge.bash", "completions/wsbridge.fish", "wsbridge", "wsbridge.1"}
	for i := range want {
		want[i] = dir + "/" + want[i]
	}
	want = append([]string{dir + "/"}, want...)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", archive, got, want)
	}
	if !strings.HasPrefix(string(files[dir+"/wsbridge.1"]), ".TH WSBRIDGE 1") {
		t.Errorf("%s/wsbridge.1 is not a man page: %.40q", dir, files[dir+"/wsbridge.1"])
	}
	if !strings.Contains(string(files[dir+"/completions/wsbridge.bash"]), "complete ") {
		t.Errorf("%s/completions/wsbridge.bash is not a bash completion", dir)
	}
	bin := filepath.Join(t.TempDir(), "wsbridge")
	if err := os.WriteFile(bin, files[dir+"/wsbridge"], 0o755); err != nil {
		t.Fatal(err)
	}
	version := runVersion(t, bin)
	if !strings.HasPrefix(version, "wsbridge v") || !strings.Contains(version, rev) {
		t.Errorf("the archive's wsbridge --version: %q, want a version and the commit %s", version, rev)
	}
	if v := strings.Fields(version)[1]; !strings.Contains(dir, strings.TrimPrefix(v, "v")) {
		t.Errorf("the archive %s is not named for the version %s", dir, v)
	}

	// The Debian package: its fields, and its files where Debian looks.
	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "-f", filepath.Join(dist, deb), name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s %s: %v", deb, name, err)
		}
		return strings.TrimSpace(string(out))
	}
	for name, want := range map[string]string{"Package": "wsbridge", "Architecture": runtime.GOARCH, "Section": "net", "Priority": "optional"} {
		if got := field(name); got != want {
			t.Errorf("%s: %s is %q, want %q", deb, name, got, want)
		}
	}
	// The commit's version (0.0.0~git...REV), or the tag's (v1.2.3 is 1.2.3).
	if v := field("Version"); !strings.Contains(deb, "_"+v+"_") {
		t.Errorf("%s: Version %q is not the file's", deb, v)
	} else if !strings.Contains(v, rev) && !strings.HasPrefix(version, "wsbridge v"+v+" ") {
		t.Errorf("%s: Version %q names neither the commit %s nor the tag in %q", deb, v, rev, version)
	}
	for _, name := range []string{"Maintainer", "Description", "Installed-Size"} {
		if field(name) == "" {
			t.Errorf("%s: no %s", deb, name)
		}
	}
	out, err := exec.Command("dpkg-deb", "-c", filepath.Join(dist, deb)).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v", err)
	}
	for _, want := range []string{
		`-rwxr-xr-x root/root .* \./usr/bin/wsbridge`,
		`-rw-r--r-- root/root .* \./usr/share/man/man1/wsbridge\.1\.gz`,
		`\./usr/share/bash-completion/completions/wsbridge`,
		`\./usr/share/zsh/vendor-completions/_wsbridge`,
		`\./usr/share/fish/vendor_completions\.d/wsbridge\.fish`,
		`\./usr/lib/systemd/system/wsbridge\.service`,
		`\./usr/lib/systemd/system/wsbridge\.socket`,
		`\./usr/share/doc/wsbridge/copyright`,
		`\./usr/share/doc/wsbridge/examples/wsbridge\.yaml`,
	} {
		if !regexp.MustCompile(`(?m)(^| )` + want + `$`).Match(out) {
			t.Errorf("%s has no line like %q:\n%s", deb, want, out)
		}
	}
	unit := debFile(t, filepath.Join(dist, deb), "./usr/lib/systemd/system/wsbridge.service")
	if !strings.Contains(unit, "\nExecStart=/usr/bin/wsbridge ") {
		t.Errorf("%s: the unit does not start /usr/bin/wsbridge:\n%s", deb, unit)
	}

	// Reproducible: the same commit makes the same bytes.
	again, err := os.ReadFile(filepath.Join(release(), "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sums, again) {
		t.Errorf("a second run made other files:\n%s\nthen\n%s", sums, again)
	}
}

// untar reads a .tar.gz: names (folders with a slash) to contents.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s is owned by %d:%d, want 0:0", path, h.Name, h.Uid, h.Gid)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

// debFile is one file of a Debian package.
func debFile(t *testing.T, deb, name string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
