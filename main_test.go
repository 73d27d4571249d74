package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// validate runs the command line through the real flag parsing and
// validation (buildServer, or buildConnect after "connect"), and stops there:
// nothing listens or dials.
func validate(args ...string) error {
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.Action = func(c *cli.Context) error {
		_, err := buildServer(c, slog.New(slog.DiscardHandler))
		return err
	}
	app.Commands[0].Action = func(c *cli.Context) error {
		_, _, err := buildConnect(c)
		return err
	}
	return app.Run(append([]string{"wsbridge"}, args...))
}

// TestDurationFlagRanges: every duration flag has a range, and a value out
// of it is a usage error that names the flag and the range, instead of
// wrapping around (--pingms 18446744073710 was 448 µs, --closems
// 9300000000000 negative).
func TestDurationFlagRanges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: accepted
	}{
		{[]string{"--pingms", "18446744073710", "cat"}, "--pingms: 18446744073710 is out of range (0 to 86400000 ms)"},
		{[]string{"--pingms", "86400000", "cat"}, ""},
		{[]string{"--pingms", "-1", "cat"}, "--pingms: -1 is out of range (0 to 86400000 ms)"},
		{[]string{"--closems", "9300000000000", "cat"}, "--closems: 9300000000000 is out of range (0 to 3600000 ms)"},
		{[]string{"--closems", "3600000", "cat"}, ""},
		{[]string{"--idle-timeout", "9300000000000", "cat"}, `--idle-timeout: "9300000000000" is not a duration from 0 to 8760h`},
		{[]string{"--idle-timeout", "9300000000s", "cat"}, `--idle-timeout: "9300000000s" is not a duration from 0 to 8760h`},
		{[]string{"--idle-timeout", "NaN", "cat"}, `--idle-timeout: "NaN" is not a duration from 0 to 8760h`},
		{[]string{"--idle-timeout", "-5", "cat"}, `--idle-timeout: "-5" is not a duration from 0 to 8760h`},
		{[]string{"--idle-timeout", "8760h", "cat"}, ""},
		{[]string{"--compression", "yes", "cat"}, `--compression: "yes" is not auto, on or off`},
		{[]string{"--compression", "off", "--pty", "cat"}, ""},
		{[]string{"--tcp", "127.0.0.1:1", "--dial-timeout", "1e300"}, `--dial-timeout: "1e300" is not a duration from 0 to 1h`},
		{[]string{"--tcp", "127.0.0.1:1", "--dial-timeout", "61m"}, `--dial-timeout: "61m" is not a duration from 0 to 1h`},
		{[]string{"--tcp", "127.0.0.1:1", "--dial-timeout", "3600"}, ""},
		{[]string{"--basic-auth", "a:b", "--auth-fail-delay", "9300000000000", "cat"}, `--auth-fail-delay: "9300000000000" is not a duration from 0 to 1m`},
		{[]string{"--basic-auth", "a:b", "--auth-fail-delay", "1m", "cat"}, ""},
		{[]string{"connect", "--ping", "9300000000000", "ws://127.0.0.1:1/"}, `--ping: "9300000000000" is not a duration from 0 to 24h`},
		{[]string{"connect", "--ping", "1s", "--ping-timeout", "25h", "ws://127.0.0.1:1/"}, `--ping-timeout: "25h" is not a duration from 0 to 24h`},
		{[]string{"connect", "--dial-timeout", "2562048h", "ws://127.0.0.1:1/"}, `--dial-timeout: "2562048h" is not a duration from 0 to 1h`},
		{[]string{"connect", "--ping", "24h", "--dial-timeout", "1h", "ws://127.0.0.1:1/"}, ""},
	} {
		checkUsage(t, tc.args, tc.want)
	}
}

// TestDrainFlags: --drain-timeout and --drain-delay are durations in
// range, and the delay needs a timeout at least as long.
func TestDrainFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: accepted
	}{
		{[]string{"--drain-timeout", "25h", "cat"}, `--drain-timeout: "25h" is not a duration from 0 to 24h`},
		{[]string{"--drain-timeout", "30", "--drain-delay", "-1", "cat"}, `--drain-delay: "-1" is not a duration from 0 to 24h`},
		{[]string{"--drain-delay", "5s", "cat"}, "--drain-delay needs --drain-timeout"},
		{[]string{"--drain-timeout", "5s", "--drain-delay", "1m", "cat"}, "--drain-delay 1m is longer than --drain-timeout 5s"},
		{[]string{"--drain-timeout", "24h", "--drain-delay", "24h", "cat"}, ""},
		{[]string{"--drain-timeout", "90", "cat"}, ""},
	} {
		checkUsage(t, tc.args, tc.want)
	}
}

// TestParseSize: --record-max's sizes, SI and binary units in any case.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1048576, "50MB": 50e6, "50mb": 50e6, "1GiB": 1 << 30, "1gib": 1 << 30,
		"1.5KiB": 1536, "2 kB": 2000, "10B": 10, "3TB": 3e12,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "50M", "1G", "-1MB", "1e3", "NaN", "Inf", "0x10", "1..2MB", "5000000TiB", "1_000"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	err := validate("--pty", "--record", t.TempDir(), "--record-max", "50M", "sh")
	if err == nil || !strings.HasPrefix(err.Error(), `--record-max: "50M" is not a size such as 50MB, 1GiB or 1048576 (bytes)`) {
		t.Errorf("--record-max 50M: %v", err)
	}
	if err := validate("--pty", "--record-max", "50MB", "sh"); err == nil || !strings.HasPrefix(err.Error(), "--record-max needs --record") {
		t.Errorf("--record-max without --record: %v", err)
	}
}

// TestURLTermOptionsFlag: --url-term-options names options the page takes,
// never the ones a link must not set.
func TestURLTermOptionsFlag(t *testing.T) {
	for args, want := range map[string]string{
		"--pty --url-term-options fontSize,windowOptions sh": "--url-term-options: windowOptions must not come from a link",
		"--pty --url-term-options clipboardWrite sh":         "--url-term-options: clipboardWrite must not come from a link",
		"--pty --url-term-options fontsize sh":               `--url-term-options: "fontsize" is not an option this page takes`,
		"--url-term-options fontSize sh":                     "--url-term-options needs --pty",
		"--pty --url-term-options fontSize,lineHeight sh":    "",
	} {
		err := validate(strings.Fields(args)...)
		if want == "" && err != nil || want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	if err := validate("--pty", "--url-term-options", "", "sh"); err != nil {
		t.Errorf("--url-term-options '': %v", err)
	}
}

// TestSharedFlags: --shared and --shared-options make a shared route; a
// bad option is a usage error naming the flag and the option.
func TestSharedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: accepted
	}{
		{[]string{"--shared", "cat"}, ""},
		{[]string{"--shared-options", "start=always,restart=always,replay=5,queue=1MiB,slow=skip,input=none", "cat"}, ""},
		{[]string{"--shared-options", "nope", "cat"}, `--shared-options: "nope" is not KEY=VALUE`},
		{[]string{"--shared-options", "colour=red", "cat"}, `--shared-options: unknown key "colour"`},
		{[]string{"--shared-options", "linger=soon", "cat"}, `--shared-options linger: time: invalid duration "soon"`},
		{[]string{"--shared-options", "start=always,linger=1s", "cat"}, `--shared-options linger: start always keeps the program running`},
		{[]string{"--shared-options", "queue=1", "cat"}, `--shared-options queue: 1 bytes is out of range`},
		{[]string{"--shared-options", "slow=block", "cat"}, `--shared-options slow: unknown value "block" (want drop, skip or wait)`},
		{[]string{"--shared", "--pty", "cat"}, "--shared is for COMMAND on pipes, not --pty"},
		{[]string{"--shared", "--dir", "."}, "--shared runs one COMMAND for every client, not --dir's scripts"},
		{[]string{"--shared", "--tcp", "127.0.0.1:1"}, "--shared is for programs; it means nothing with --tcp"},
	} {
		checkUsage(t, tc.args, tc.want)
	}
}

// TestUnbufferFlag: --unbuffer is for programs on pipes (COMMAND, --dir,
// --shared), in the route's exec.unbuffer; with --pty or a dialing backend
// it is a usage error that names it.
func TestUnbufferFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: accepted
	}{
		{[]string{"--unbuffer", "cat"}, ""},
		{[]string{"--unbuffer", "--dir", "."}, ""},
		{[]string{"--unbuffer", "--shared", "--framing", "binary", "cat"}, ""},
		{[]string{"--unbuffer", "--pty", "sh"}, "--unbuffer means nothing with --pty: its output is a terminal already"},
		{[]string{"--unbuffer", "--tcp", "127.0.0.1:1"}, "--unbuffer is for programs; it means nothing with --tcp"},
		{[]string{"--unbuffer", "--token-file", "."}, "--unbuffer is for programs; it means nothing with --token-file"},
	} {
		checkUsage(t, tc.args, tc.want)
	}
	for _, args := range [][]string{{"cat"}, {"--unbuffer", "cat"}} {
		f, _, err := flagFile(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.Routes[0].Exec.Unbuffer, len(args) == 2; got != want {
			t.Errorf("%v: exec.unbuffer %v, want %v", args, got, want)
		}
	}
}

// checkUsage runs the checks of the command line args: want is the start
// of its usage error (exit 2), or "" when args are accepted.
func checkUsage(t *testing.T, args []string, want string) {
	t.Helper()
	err := validate(args...)
	var ec cli.ExitCoder
	switch {
	case want == "" && err != nil:
		t.Errorf("%v: %v, want it accepted", args, err)
	case want == "":
	case err == nil:
		t.Errorf("%v: accepted, want %q", args, want)
	case !errors.As(err, &ec) || ec.ExitCode() != exitUsage || !strings.HasPrefix(err.Error(), want):
		t.Errorf("%v: %q, want exit %d and %q", args, err, exitUsage, want)
	}
}

// TestLingerFlags: --linger and --scrollback, in range, with --pty.
func TestLingerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: accepted
	}{
		{[]string{"--pty", "--linger", "10m", "sh"}, ""},
		{[]string{"--pty", "--linger", "90", "--scrollback", "64KiB", "sh"}, ""},
		{[]string{"--linger", "10m", "cat"}, "--linger needs --pty"},
		{[]string{"--pty", "--linger", "soon", "sh"}, `--linger: "soon" is not a duration from 0 to 168h`},
		{[]string{"--pty", "--linger", "169h", "sh"}, `--linger: "169h" is not a duration from 0 to 168h`},
		{[]string{"--pty", "--scrollback", "2MiB", "sh"}, "--scrollback needs --linger"},
		{[]string{"--pty", "--writers", "one", "sh"}, "--writers needs --linger"},
		{[]string{"--pty", "--linger", "1m", "--writers", "some", "sh"}, `--writers: "some" is not one of all, one`},
		{[]string{"--pty", "--linger", "1m", "--writers", "one", "sh"}, ""},
		{[]string{"--pty", "--linger", "1m", "--scrollback", "2M", "sh"}, `--scrollback: "2M" is not a size`},
		{[]string{"--pty", "--linger", "1m", "--scrollback", "100", "sh"}, "--scrollback: 100 bytes is out of range (4096 to 1073741824)"},
	} {
		checkUsage(t, tc.args, tc.want)
	}
}
