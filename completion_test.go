package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// everyFlag calls f with each flag name, dashes included, and the command
// it belongs to ("" for the server).
func everyFlag(f func(command, name string)) {
	app := newApp()
	each := func(command string, flags []cli.Flag) {
		for _, fl := range flags {
			for _, n := range fl.Names() {
				if len(n) == 1 {
					f(command, "-"+n)
				} else {
					f(command, "--"+n)
				}
			}
		}
	}
	each("", append(app.Flags, cli.HelpFlag, cli.VersionFlag))
	for _, cmd := range app.Commands {
		each(cmd.Name, cmd.Flags)
	}
}

// TestFishCompletionHasEveryFlag: the fish script names every flag of the
// server and of each command, under that command, long aliases as long
// options (urfave/cli's own passes --tls-cert as -s tls-cert).
func TestFishCompletionHasEveryFlag(t *testing.T) {
	script := runApp(t, "completion", "fish")
	everyFlag(func(command, name string) {
		opt := "-l " + strings.TrimPrefix(name, "--")
		if !strings.HasPrefix(name, "--") {
			opt = "-s " + strings.TrimPrefix(name, "-")
		}
		for _, line := range strings.Split(script, "\n") {
			// A command's flags complete after it; the server's before any.
			in := strings.Contains(line, "'__fish_seen_subcommand_from "+command+"'")
			if command == "" {
				in = !strings.Contains(line, "'__fish_seen_subcommand_from")
			}
			if in && strings.Contains(line, " "+opt+" ") {
				return
			}
		}
		t.Errorf("completion fish: no %q for %q", opt, command)
	})
}

// TestManPage: wsbridge man is a manual page that man renders without
// warnings, with every flag of the server and of each command in it.
func TestManPage(t *testing.T) {
	page := runApp(t, "man")
	everyFlag(func(command, name string) {
		if !strings.Contains(page, roff(name)) {
			t.Errorf("man: %s (%s) is missing", name, command)
		}
	})
	if _, err := exec.LookPath("man"); err != nil {
		if os.Getenv("WSBRIDGE_REQUIRE_ALL") == "1" {
			t.Fatal("man is missing (Debian's man-db) and WSBRIDGE_REQUIRE_ALL=1")
		}
		t.Skip("man is missing (Debian's man-db): the page is not rendered; install it or see .ci/run")
	}
	var out, warnings bytes.Buffer
	man := exec.Command("man", "--warnings", "-E", "ascii", "-l", "-")
	man.Env = append(os.Environ(), "MANWIDTH=100")
	man.Stdin, man.Stdout, man.Stderr = strings.NewReader(page), &out, &warnings
	if err := man.Run(); err != nil || warnings.Len() > 0 {
		t.Fatalf("man -l -: %v\n%s", err, warnings.String())
	}
	everyFlag(func(command, name string) {
		if !strings.Contains(out.String(), name) {
			t.Errorf("man -l -: %s (%s) is not in the rendered page", name, command)
		}
	})
	for _, want := range []string{"NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "*.DOMAIN", "[$WSBRIDGE_PORT]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("man -l -: no %q in:\n%s", want, out.String())
		}
	}
}
