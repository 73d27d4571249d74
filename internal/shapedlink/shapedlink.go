// Package shapedlink makes a slow link of its own for tests and the bench:
// a network namespace joined to this host by a veth pair, one way shaped
// by tc's tbf. It runs Debian's iproute2 (ip, tc) and needs root (Linux).
package shapedlink

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
)

// Shaped says which way the link is slow: what the host sends into the
// namespace, or what leaves the namespace for the host.
type Shaped int

const (
	FromHost Shaped = iota
	FromNamespace
)

// Link is a namespace and the veth pair that joins it to this host, each
// end with an address in a /30 of 10.<subnet>.0.0/16.
type Link struct {
	NS    string // the namespace (ip netns exec NS ...)
	Host  string // the host's end of the pair
	Outer string // the host end's address
	Inner string // the namespace end's address
}

// New makes a link named after tag (a few letters: interface names are
// short), shaped to rate (tc's units: 800kbit, 100000bps) the way shaped
// says. Callers that may run at once pass different subnets.
func New(tag string, subnet int, rate string, shaped Shaped) (*Link, error) {
	id := rand.IntN(1 << 16)
	peer := fmt.Sprintf("%s%dn", tag, id)
	l := &Link{
		NS:    fmt.Sprintf("%sns%d", tag, id),
		Host:  fmt.Sprintf("%s%dh", tag, id),
		Outer: fmt.Sprintf("10.%d.%d.%d", subnet, id>>8, id&0xfc|1),
		Inner: fmt.Sprintf("10.%d.%d.%d", subnet, id>>8, id&0xfc|2),
	}
	tbf := []string{"root", "tbf", "rate", rate, "burst", "16kb", "latency", "100ms"}
	shape := append([]string{"tc", "qdisc", "add", "dev", l.Host}, tbf...)
	if shaped == FromNamespace {
		shape = append([]string{"tc", "-n", l.NS, "qdisc", "add", "dev", peer}, tbf...)
	}
	for _, c := range [][]string{
		{"ip", "netns", "add", l.NS},
		{"ip", "link", "add", l.Host, "type", "veth", "peer", "name", peer, "netns", l.NS},
		{"ip", "addr", "add", l.Outer + "/30", "dev", l.Host},
		{"ip", "link", "set", l.Host, "up"},
		{"ip", "-n", l.NS, "addr", "add", l.Inner + "/30", "dev", peer},
		{"ip", "-n", l.NS, "link", "set", peer, "up"},
		{"ip", "-n", l.NS, "link", "set", "lo", "up"},
		shape,
	} {
		if err := run(c...); err != nil {
			return nil, errors.Join(err, l.Remove())
		}
	}
	return l, nil
}

// Remove deletes the pair and the namespace. The pair goes first: deleting
// one end deletes both at once, where the namespace's teardown would take
// its end only later.
func (l *Link) Remove() error {
	var err error
	if exec.Command("ip", "link", "show", l.Host).Run() == nil {
		err = run("ip", "link", "del", l.Host)
	}
	return errors.Join(err, run("ip", "netns", "del", l.NS))
}

func run(args ...string) error {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
