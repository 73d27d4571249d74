//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// inShell runs a script in a real shell with the wsbridge under test first
// on PATH, as the completion scripts expect, and returns its output.
func inShell(t *testing.T, shell string, args ...string) string {
	t.Helper()
	cmd := exec.Command(shell, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", shell, args, err, out)
	}
	return string(out)
}

// TestShellCompletion: each shell, with wsbridge's script loaded, completes
// wsbridge's flags and commands.
func TestShellCompletion(t *testing.T) {
	t.Run("bash", func(t *testing.T) {
		requireTool(t, "/bin/bash", "completion in bash")
		complete := func(words string) string {
			return inShell(t, "/bin/bash", "-c", `eval "$(wsbridge completion bash)"
				COMP_WORDS=(`+words+`); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _wsbridge
				printf '%s\n' "${COMPREPLY[@]}"`)
		}
		for words, want := range map[string]string{
			"wsbridge --pt":        "--pty\n",
			"wsbridge --tls-c":     "--tls-cert\n",
			"wsbridge connect --t": "--text\n--tty\n",
			"wsbridge co":          "connect\ncompletion\n",
		} {
			if got := complete(words); got != want {
				t.Errorf("bash: %s<TAB>: %q, want %q", words, got, want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		requireTool(t, "/usr/bin/fish", "completion in fish")
		got := inShell(t, "/usr/bin/fish", "-c", `wsbridge completion fish | source
			complete -C "wsbridge --pt"; complete -C "wsbridge --tls-c"; complete -C "wsbridge connect --tt"`)
		for _, want := range []string{"--pty\t", "--tls-cert\t", "--tty\t"} {
			if !strings.Contains(got, want) {
				t.Errorf("fish: no %q in:\n%s", want, got)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		// Driving zsh's completion needs a terminal; this checks that the
		// script loads and registers its function.
		requireTool(t, "/usr/bin/zsh", "completion in zsh")
		got := inShell(t, "/usr/bin/zsh", "-f", "-c", `autoload -U compinit && compinit -u -D
			eval "$(wsbridge completion zsh)" && print -r -- $_comps[wsbridge]`)
		if got != "_wsbridge\n" {
			t.Errorf("zsh: wsbridge completes with %q, want _wsbridge", got)
		}
	})
}
