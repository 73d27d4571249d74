package auth

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// replaceFile writes a new version of path by rename, as editors and
// deployment tools do, so it counts as changed.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func htpasswdLine(t *testing.T, user string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw-"+user), cost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h) + "\n"
}

// TestHtpasswdDummyCostFollowsTheFile: an unknown user is compared against a
// hash as slow as the file's (htpasswd -B writes cost 5), not a fixed cost 10
// that answered 60 ms later and told which users exist; and after a reload,
// as slow as the new file's.
func TestHtpasswdDummyCostFollowsTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "htpasswd")
	replaceFile(t, file, htpasswdLine(t, "alice", 5)+htpasswdLine(t, "bob", 5)+htpasswdLine(t, "carol", 6))
	h, err := NewHtpasswd(file, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost(h.dummy(h.file.current())); err != nil || cost != 5 {
		t.Errorf("dummy hash cost %d (%v), want 5, the file's most common", cost, err)
	}

	replaceFile(t, file, htpasswdLine(t, "alice", 6))
	if cost, err := bcrypt.Cost(h.dummy(h.file.current())); err != nil || cost != 6 {
		t.Errorf("after the reload: dummy hash cost %d (%v), want 6", cost, err)
	}
}
