//go:build unix

package e2e

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// sshServer is Debian's OpenSSH daemon on a loopback port, with its own host
// key and one authorized client key, in dir.
type sshServer struct {
	Addr string
	dir  string
}

func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	requireTool(t, "/usr/sbin/sshd", "OpenSSH server: package openssh-server")
	requireTool(t, "/usr/bin/ssh", "OpenSSH client: package openssh-client")
	dir := t.TempDir()
	for _, key := range []string{"host", "client"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", filepath.Join(dir, key)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(pub))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	writeFile(t, filepath.Join(dir, "known_hosts"), "wsbtest "+string(hostPub))
	if os.Geteuid() == 0 {
		// sshd run by root insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		port := fmt.Sprint(freePort(t, "tcp"))
		config := filepath.Join(dir, "sshd_config")
		writeFile(t, config, strings.Join([]string{
			"Port " + port,
			"ListenAddress 127.0.0.1",
			"HostKey " + filepath.Join(dir, "host"),
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"PidFile none",
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"Subsystem sftp /usr/lib/openssh/sftp-server",
			"LogLevel VERBOSE",
		}, "\n")+"\n")
		addr := net.JoinHostPort("127.0.0.1", port)
		if _, ok := listeningTool(t, addr, "/usr/sbin/sshd", "-D", "-e", "-f", config); ok {
			return &sshServer{Addr: addr, dir: dir}
		}
	}
	t.Fatal("five free ports were taken before sshd could bind them")
	return nil
}

// options are ssh's and scp's: our key, the host key known under the name
// wsbtest, and config: "-F" and a file, then the ProxyCommand's options.
func (s *sshServer) options(config ...string) []string {
	return append(config,
		"-i", filepath.Join(s.dir, "client"),
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(s.dir, "known_hosts"),
		"-o", "StrictHostKeyChecking=yes",
		"-o", "HostKeyAlias=wsbtest",
		"-o", "LogLevel=ERROR",
	)
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// ssh and scp reach a real sshd through `wsbridge connect` as their
// ProxyCommand and wsbridge's TCP bridge in front of sshd.
func TestConnectSSHProxyCommand(t *testing.T) {
	sshd := startSSHD(t)
	bridgeInst := start(t, "--tcp", sshd.Addr)
	marker := newMarker()
	// Nothing from the user's configuration, and the ProxyCommand.
	proxy := []string{"-F", "/dev/null", "-o", fmt.Sprintf("ProxyCommand=%s connect %s/%s", binary, bridgeInst.URL, marker)}
	login := currentUser(t) + "@wsbtest"

	out, err := exec.Command("ssh", append(sshd.options(proxy...), login, "echo", "ok")...).CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("ssh echo ok: %v, output %q", err, out)
	}
	// The example config: its ProxyCommand finds wsbridge on PATH and the
	// bridge at the host and port ssh is given.
	_, port, _ := net.SplitHostPort(bridgeInst.Host)
	viaConfig := exec.Command("ssh", append(sshd.options("-F", example("ssh_config")), "-p", port, currentUser(t)+"@127.0.0.1", "echo", "ok")...)
	viaConfig.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
	if out, err := viaConfig.CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Fatalf("ssh -F examples/ssh_config: %v, output %q", err, out)
	}
	// The remote command's exit status comes back through ssh as well.
	err = exec.Command("ssh", append(sshd.options(proxy...), login, "exit 7")...).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("ssh 'exit 7': %v", err)
	}

	// 64 MiB up and back down with scp, compared by checksum.
	dir := t.TempDir()
	src, remote, back := filepath.Join(dir, "src"), filepath.Join(dir, "remote"), filepath.Join(dir, "back")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), stream(64<<20)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := [32]byte(h.Sum(nil))
	for _, args := range [][]string{{src, login + ":" + remote}, {login + ":" + remote, back}} {
		out, err := exec.Command("scp", append(append(sshd.options(proxy...), "-q"), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("scp %s: %v: %s", args, err, out)
		}
	}
	for _, name := range []string{remote, back} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		got := sum(f)
		f.Close()
		if got != want {
			t.Fatalf("%s differs from what was sent", name)
		}
	}
	// Every `wsbridge connect` ended with its ssh.
	waitNoProcesses(t, marker)
}
