package bridge

import (
	"strings"
	"testing"
)

func TestPasswdShell(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\n# a comment\nbad line\nann:x:1000:1000:Ann,,,:/home/ann:/usr/bin/zsh\nsvc:x:998:998::/srv:\n"
	for uid, want := range map[string]string{"0": "/bin/bash", "1000": "/usr/bin/zsh", "998": "", "5": ""} {
		if got := passwdShell(strings.NewReader(passwd), uid); got != want {
			t.Errorf("uid %s: %q, want %q", uid, got, want)
		}
	}
}
