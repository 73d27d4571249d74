package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts ask the wsbridge they complete for the words
// (urfave/cli's --generate-bash-completion): after a dash its flags, else
// its commands; other words complete as file names.
const bashCompletion = `# wsbridge completion for bash: eval "$(wsbridge completion bash)"
_wsbridge() {
	local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
	local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
	[[ $cur == -* ]] && words+=("$cur")
	COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F _wsbridge wsbridge
`

const zshCompletion = `#compdef wsbridge
# wsbridge completion for zsh: source <(wsbridge completion zsh), after compinit
_wsbridge() {
	local -a ask opts
	ask=("${(@Q)words[1,CURRENT-1]}")
	[[ $PREFIX == -* ]] && ask+=("$PREFIX")
	opts=(${(f)"$("${ask[@]}" --generate-bash-completion 2>/dev/null)"})
	compadd -a opts
	[[ $PREFIX == -* ]] || _files
}
compdef _wsbridge wsbridge
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		UsageText: "wsbridge completion bash|zsh|fish",
		Description: "Load it in the shell's start-up file:\n" +
			"  bash (~/.bashrc):                  eval \"$(wsbridge completion bash)\"\n" +
			"  zsh (~/.zshrc, after compinit):    source <(wsbridge completion zsh)\n" +
			"  fish (~/.config/fish/config.fish): wsbridge completion fish | source",
		OnUsageError: commandUsageError,
		Action: func(c *cli.Context) error {
			var script string
			switch shell := c.Args().First(); {
			case c.NArg() != 1:
				return usageError("completion: name one shell: bash, zsh or fish")
			case shell == "bash":
				script = bashCompletion
			case shell == "zsh":
				script = zshCompletion
			case shell == "fish":
				script = fishCompletion(c.App)
			default:
				return usageError("completion: %q is not bash, zsh or fish", shell)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// fishCompletion lists every flag and command for fish. urfave/cli's
// ToFishCompletion passes long aliases (--tls-cert) as short options, which
// fish takes letter by letter.
func fishCompletion(app *cli.App) string {
	var b strings.Builder
	b.WriteString("# wsbridge completion for fish: wsbridge completion fish | source\n")
	var names []string
	for _, cmd := range app.VisibleCommands() {
		names = append(names, cmd.Names()...)
	}
	root := "not __fish_seen_subcommand_from " + strings.Join(names, " ")
	fishFlags(&b, root, app.VisibleFlags())
	for _, cmd := range app.VisibleCommands() {
		fmt.Fprintf(&b, "complete -c wsbridge -n %s -a %s -d %s\n", fishQuote(root), fishQuote(cmd.Name), fishQuote(cmd.Usage))
		in := "__fish_seen_subcommand_from " + cmd.Name
		fishFlags(&b, in, cmd.VisibleFlags())
		if cmd.Name == "completion" {
			fmt.Fprintf(&b, "complete -c wsbridge -n %s -f -a 'bash zsh fish'\n", fishQuote(in))
		}
	}
	return b.String()
}

func fishFlags(b *strings.Builder, condition string, flags []cli.Flag) {
	for _, f := range flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		fmt.Fprintf(b, "complete -c wsbridge -n %s", fishQuote(condition))
		for _, name := range f.Names() {
			if len(name) == 1 {
				fmt.Fprintf(b, " -s %s", name)
			} else {
				fmt.Fprintf(b, " -l %s", name)
			}
		}
		if df.TakesValue() {
			b.WriteString(" -r") // and its value completes as a file name
		}
		_, usage := unquoteUsage(df.GetUsage())
		fmt.Fprintf(b, " -d %s\n", fishQuote(usage))
	}
}

// fishQuote quotes s for fish: in single quotes only \\ and \' are special.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// manCommand prints the manual page, made from the same flags as --help.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:         "man",
		Usage:        "print the manual page (roff): wsbridge man | man -l -",
		UsageText:    "wsbridge man",
		OnUsageError: commandUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("man: no arguments, got %q", c.Args().Slice())
			}
			_, err := fmt.Fprint(c.App.Writer, manPage(c.App))
			return err
		},
	}
}

func commandUsageError(c *cli.Context, err error, _ bool) error {
	return cli.Exit(err.Error()+" (see wsbridge "+c.Command.Name+" --help)", exitUsage)
}
