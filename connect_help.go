package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// connect's --help: urfave/cli's own puts each flag on one line however
// long (over 300 columns) and sorts categories by name. Here the options
// come under their categories in the order declared, each usage wrapped in
// a column, no line wider than connectHelpWidth.
const (
	connectHelpWidth  = 100
	connectHelpColumn = 32 // where a usage starts; longer names put it on the next line
)

// connectHelp is the help template, with the options written out.
func connectHelp(flags []cli.Flag) string {
	var b strings.Builder
	b.WriteString("NAME:\n   {{template \"helpNameTemplate\" .}}\n\nUSAGE:\n   {{template \"usageTemplate\" .}}\n\n" +
		"DESCRIPTION:\n   {{template \"descriptionTemplate\" .}}\n")
	var order []string
	groups := map[string][]cli.Flag{}
	for _, f := range append(flags, cli.HelpFlag) {
		c := "OPTIONS"
		if cf, ok := f.(cli.CategorizableFlag); ok && cf.GetCategory() != "" {
			c = cf.GetCategory()
		}
		if groups[c] == nil {
			order = append(order, c)
		}
		groups[c] = append(groups[c], f)
	}
	for _, c := range order {
		b.WriteString("\n" + c + ":\n")
		for _, f := range groups[c] {
			writeFlagHelp(&b, f.(cli.DocGenerationFlag))
		}
	}
	return b.String()
}

// writeFlagHelp writes "--name VALUE, -n VALUE  usage (default: D) [$VAR]",
// the usage wrapped in its column, under the names when they are long.
func writeFlagHelp(b *strings.Builder, f cli.DocGenerationFlag) {
	// The `NAME` in a usage names the value (urfave/cli's convention).
	before, rest, _ := strings.Cut(f.GetUsage(), "`")
	placeholder, after, ok := strings.Cut(rest, "`")
	usage := before + placeholder + after
	if !ok {
		placeholder, usage = "", f.GetUsage()
	}
	if f.TakesValue() && placeholder == "" {
		placeholder = "value"
	}
	if v := f.GetValue(); f.TakesValue() && v != "" && v != "0" && !strings.Contains(usage, "default") {
		usage += " (default: " + v + ")"
	}
	usage = cli.FlagEnvHinter(f.GetEnvVars(), usage)
	line := "   " + cli.FlagNamePrefixer(f.Names(), placeholder)
	if len(line) > connectHelpColumn-2 {
		b.WriteString(line + "\n")
		line = ""
	}
	for _, word := range strings.Fields(usage) {
		if line != "" && len(line)+1+len(word) > connectHelpWidth {
			b.WriteString(line + "\n")
			line = ""
		}
		if len(line) < connectHelpColumn {
			line += strings.Repeat(" ", connectHelpColumn-len(line)) + word
		} else {
			line += " " + word
		}
	}
	b.WriteString(line + "\n")
}
