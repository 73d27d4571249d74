package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

// runApp runs the real command line with args and returns what it printed.
func runApp(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	if err := app.Run(append([]string{"wsbridge"}, args...)); err != nil {
		t.Fatalf("wsbridge %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestHelpGroupedAndNarrow: --help lists every flag, each under the heading
// of its category (flags without one under OPTIONS), and no line is wider
// than 100 columns; for the server and for every command.
func TestHelpGroupedAndNarrow(t *testing.T) {
	heading := regexp.MustCompile(`^(\S.*):$`)
	flagLine := regexp.MustCompile(`^   (-[^ ]+.*?)(\s{2,}|$)`)
	check := func(args []string, flags []cli.Flag) {
		help := runApp(t, append(args, "--help")...)
		section := map[string]string{} // flag name: the heading it is under
		var under string
		for _, line := range strings.Split(help, "\n") {
			if n := utf8.RuneCountInString(line); n > helpWidth {
				t.Errorf("%v --help: a line of %d columns:\n%s", args, n, line)
			}
			if m := heading.FindStringSubmatch(line); m != nil {
				under = m[1]
			}
			if m := flagLine.FindStringSubmatch(line); m != nil {
				for _, names := range strings.Split(m[1], ", ") {
					section[strings.Fields(names)[0]] = under
				}
			}
		}
		for _, f := range append(flags, cli.HelpFlag) {
			want := "OPTIONS"
			if c, ok := f.(cli.CategorizableFlag); ok && c.GetCategory() != "" {
				want = c.GetCategory()
			}
			for _, name := range f.Names() {
				dashes := "--"
				if len(name) == 1 {
					dashes = "-"
				}
				if got, ok := section[dashes+name]; !ok {
					t.Errorf("%v --help does not list %s%s:\n%s", args, dashes, name, help)
				} else if got != want {
					t.Errorf("%v --help: %s%s is under %q, want %q", args, dashes, name, got, want)
				}
			}
		}
	}
	app := newApp()
	check(nil, append(app.Flags, cli.VersionFlag))
	for _, cmd := range app.Commands {
		check([]string{cmd.Name}, cmd.Flags)
	}
	// The server's flags are all in categories, in the order --help shows them.
	var categories []string
	for _, f := range app.Flags {
		c := f.(cli.CategorizableFlag).GetCategory()
		if c == "" {
			t.Errorf("--%s has no category", f.Names()[0])
		}
		if len(categories) == 0 || categories[len(categories)-1] != c {
			categories = append(categories, c)
		}
	}
	help := runApp(t, "--help")
	last := -1
	for _, c := range categories {
		i := strings.Index(help, "\n"+c+":\n")
		if i < last {
			t.Errorf("--help: category %q out of order or scattered (%v)", c, categories)
		}
		last = i
	}
}
