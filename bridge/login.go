package bridge

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strings"
)

// LoginEnv is what a login gives a terminal's shell, without which bash
// reads no start-up files of the user's and vim garbles typed CJK: HOME,
// USER, LOGNAME and SHELL of the account wsbridge runs as, the locale of
// wsbridge's environment (LANG and LC_*; LANG=C.UTF-8 if it chooses no
// character set), and TERM and COLORTERM for the browser's terminal.
func LoginEnv() []string {
	env := []string{"TERM=xterm-256color", "COLORTERM=truecolor"}
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+cleanEnvValue(v))
		}
	}
	if u, err := user.Current(); err == nil {
		set("HOME", u.HomeDir)
		set("USER", u.Username)
		set("LOGNAME", u.Username)
		set("SHELL", loginShell(u.Uid))
	} else { // no passwd entry (a bare container): what wsbridge was given
		for _, k := range []string{"HOME", "USER", "LOGNAME"} {
			set(k, os.Getenv(k))
		}
		set("SHELL", "/bin/sh")
	}
	charset := false // LANG, LC_ALL or LC_CTYPE chooses it
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if (k == "LANG" || strings.HasPrefix(k, "LC_")) && v != "" {
			set(k, v)
			charset = charset || k == "LANG" || k == "LC_ALL" || k == "LC_CTYPE"
		}
	}
	if !charset {
		set("LANG", "C.UTF-8")
	}
	return env
}

// loginShell is the shell of the account with this uid: from /etc/passwd,
// else from getent (accounts in LDAP and the like), else /bin/sh. os/user
// has no shell field.
func loginShell(uid string) string {
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		if sh := passwdShell(f, uid); sh != "" {
			return sh
		}
	}
	if out, err := exec.Command("getent", "passwd", uid).Output(); err == nil {
		if sh := passwdShell(bytes.NewReader(out), uid); sh != "" {
			return sh
		}
	}
	return "/bin/sh"
}

// passwdShell finds the shell of uid in passwd(5) lines.
func passwdShell(r io.Reader, uid string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) == 7 && f[2] == uid {
			return f[6]
		}
	}
	return ""
}
