package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// manPage is the manual page in roff (man(7)), made from the same flags and
// texts as --help. urfave/cli's ToMan goes through Markdown, which takes
// the usages' stars (*.DOMAIN, '*') for emphasis and drops them.
func manPage(app *cli.App) string {
	var b strings.Builder
	v := buildVersion()
	// No hyphenation and no justification: flags stay whole and can be searched for.
	fmt.Fprintf(&b, ".TH WSBRIDGE 1 \"\" \"wsbridge %s\" \"User Commands\"\n.nh\n.ad l\n", roff(v))
	fmt.Fprintf(&b, ".SH NAME\nwsbridge \\- %s\n", roff(app.Usage))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.nf\n%s\n.fi\n", roff(app.UsageText))
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(app.Description))
	b.WriteString(".SH OPTIONS\n")
	manFlags(&b, app.VisibleFlags())
	b.WriteString(".SH COMMANDS\n")
	for _, cmd := range app.VisibleCommands() {
		fmt.Fprintf(&b, ".SS %s\n%s\n", roff("wsbridge "+cmd.Name), roff(cmd.Usage))
		if cmd.UsageText != "" {
			fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roff(cmd.UsageText))
		}
		if cmd.Description != "" {
			fmt.Fprintf(&b, ".PP\n%s\n", roff(cmd.Description))
		}
		manFlags(&b, cmd.VisibleFlags())
	}
	b.WriteString(".SH SEE ALSO\nThe README of wsbridge; the terminal protocol in docs/terminal\\-protocol.md.\n")
	return b.String()
}

// manFlags lists flags by category, each name in bold over its usage.
func manFlags(b *strings.Builder, flags []cli.Flag) {
	for _, g := range flagGroups(flags) {
		if g.Name != "" {
			fmt.Fprintf(b, ".PP\n\\fI%s\\fR\n", roff(g.Name))
		}
		for _, f := range g.Flags {
			if df, ok := f.(cli.DocGenerationFlag); ok {
				names, usage := flagText(df)
				fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s\n", roff(names), roff(usage))
			}
		}
	}
}

// roff escapes text for a man page: backslashes, dashes (minus signs, as
// options are typed), and a dot or quote at a line's start, which would
// read as a request.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
