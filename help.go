package main

// The layout of --help, for the server and every command. urfave/cli's own
// puts each flag on one line however long its usage (up to 310 columns) and
// sorts categories by name; here flags are listed by category in the order
// they are declared, and each usage wraps in a column, so that no line is
// wider than helpWidth.

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

const (
	helpWidth  = 100 // no line of --help is wider
	helpIndent = 3   // the templates' indent before each flag
	helpColumn = 32  // where a flag's usage starts; longer names put it on the next line
)

// infoCategory holds --help and --version, and the server's --license.
const infoCategory = "Information"

// urfaveFlagString is urfave/cli's own stringer, for flags that aren't
// documented (DocGenerationFlag).
var urfaveFlagString = cli.FlagStringer

// flagsTemplate lists the flags by category; flags without one come first,
// under OPTIONS.
const flagsTemplate = `{{range flagGroups .VisibleFlags}}
{{if .Name}}{{.Name}}{{else}}OPTIONS{{end}}:{{range .Flags}}
   {{.}}{{end}}
{{end}}`

const appHelpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{template "usageTemplate" .}}{{if .Version}}

VERSION:
   {{.Version}}{{end}}{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}{{if .VisibleCommands}}

COMMANDS:{{template "visibleCommandTemplate" .}}{{end}}
` + flagsTemplate

const commandHelpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{template "usageTemplate" .}}{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}
` + flagsTemplate

func init() {
	cli.FlagStringer = flagHelp
	cli.AppHelpTemplate = appHelpTemplate
	cli.CommandHelpTemplate = commandHelpTemplate
	cli.SubcommandHelpTemplate = commandHelpTemplate
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		cli.HelpPrinterCustom(w, templ, data, map[string]any{
			"wrapAt":     func() int { return helpWidth }, // the description and the commands' usages
			"flagGroups": flagGroups,
		})
	}
	for _, f := range []cli.Flag{cli.HelpFlag, cli.VersionFlag} {
		if b, ok := f.(*cli.BoolFlag); ok {
			b.Category = infoCategory
		}
	}
}

type flagGroup struct {
	Name  string
	Flags []cli.Flag
}

// flagGroups groups flags by category, the groups in the order of their
// first flags.
func flagGroups(flags []cli.Flag) []flagGroup {
	var groups []flagGroup
	index := map[string]int{}
	for _, f := range flags {
		var category string
		if c, ok := f.(cli.CategorizableFlag); ok {
			category = c.GetCategory()
		}
		i, ok := index[category]
		if !ok {
			i, index[category] = len(groups), len(groups)
			groups = append(groups, flagGroup{Name: category})
		}
		groups[i].Flags = append(groups[i].Flags, f)
	}
	return groups
}

// flagText is a flag as --help and the man page show it: its names with
// the value's placeholder ("--port PORT"), and its usage with its default
// and environment variable. A repeatable flag's usage says so; urfave's
// "[ --name value ]" after the names is left out.
func flagText(df cli.DocGenerationFlag) (names, usage string) {
	placeholder, usage := unquoteUsage(df.GetUsage())
	if placeholder == "" && df.TakesValue() {
		placeholder = "value"
	}
	if d := df.GetDefaultText(); d != "" && !isSwitch(df) {
		usage += " (default: " + d + ")"
	}
	return cli.FlagNamePrefixer(df.Names(), placeholder), strings.TrimSpace(cli.FlagEnvHinter(df.GetEnvVars(), usage))
}

// flagHelp writes a flag's names, then its usage wrapped in a column at
// helpColumn.
func flagHelp(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return urfaveFlagString(f)
	}
	names, usage := flagText(df)
	if usage == "" {
		return names
	}
	var b strings.Builder
	b.WriteString(names)
	pad := helpColumn - helpIndent - utf8.RuneCountInString(names)
	for i, line := range wrapWords(usage, helpWidth-helpColumn) {
		if i == 0 && pad >= 2 {
			b.WriteString(strings.Repeat(" ", pad))
		} else {
			b.WriteString("\n" + strings.Repeat(" ", helpColumn))
		}
		b.WriteString(line)
	}
	return b.String()
}

// isSwitch says whether f is a bool flag whose default goes without saying.
func isSwitch(f cli.Flag) bool {
	b, ok := f.(*cli.BoolFlag)
	return ok && (b.DisableDefaultText || !b.Value)
}

// unquoteUsage takes the placeholder out of a usage: "listen on `PORT`"
// names the value PORT (urfave/cli's convention).
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	name, after, ok2 := strings.Cut(rest, "`")
	if !ok || !ok2 {
		return "", usage
	}
	return name, before + name + after
}

// wrapWords breaks text between words into lines of at most width
// columns; a longer word has a line of its own.
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}
