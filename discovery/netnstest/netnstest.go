//go:build linux

// Package netnstest builds small networks of Linux network namespaces for
// tests and benchmarks: two namespaces joined by a veth pair, each with
// its loopback up, addressed over IPv4 and IPv6 or IPv6 link-local only.
// It needs root and iproute2's ip; Available says why not otherwise. A
// test's traffic stays inside the namespaces it made.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Available reports why namespaces cannot be made here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespace tests need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("network namespace tests need iproute2's ip (apt-get install iproute2)")
	}
	return nil
}

// Node is one namespace of a Pair.
type Node struct {
	NS    string // namespace name
	Iface string // its end of the veth pair
	IPv4  string // its IPv4 address, "" with IPv6Only
}

// Prefix is the command prefix that runs a program in the namespace.
func (n Node) Prefix() []string { return []string{"ip", "netns", "exec", n.NS} }

// Command returns a command that runs name in the namespace.
func (n Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Pair is two namespaces on one link.
type Pair struct {
	A, B Node
}

// Options shape a Pair.
type Options struct {
	// IPv6Only gives the link no IPv4 addresses: only the IPv6
	// link-local ones the kernel makes.
	IPv6Only bool
}

// NewPair makes two namespaces joined by a veth pair and waits until
// their addresses are usable. Close removes them.
func NewPair(ctx context.Context, opt Options) (*Pair, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var r [4]byte
	rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	p := &Pair{
		A: Node{NS: "shoal-" + tag + "-a", Iface: "sh" + tag + "a"},
		B: Node{NS: "shoal-" + tag + "-b", Iface: "sh" + tag + "b"},
	}
	if !opt.IPv6Only {
		p.A.IPv4, p.B.IPv4 = "10.231.0.1", "10.231.0.2" // inside our own namespaces only
	}
	steps := [][]string{
		{"netns", "add", p.A.NS},
		{"netns", "add", p.B.NS},
		{"link", "add", p.A.Iface, "netns", p.A.NS, "type", "veth", "peer", "name", p.B.Iface, "netns", p.B.NS},
	}
	for _, n := range []Node{p.A, p.B} {
		steps = append(steps,
			[]string{"-n", n.NS, "link", "set", "lo", "up"},
			[]string{"netns", "exec", n.NS, "sysctl", "-qw", "net.ipv6.conf." + n.Iface + ".accept_dad=0"})
		if n.IPv4 != "" {
			steps = append(steps, []string{"-n", n.NS, "addr", "add", n.IPv4 + "/24", "dev", n.Iface})
		}
		steps = append(steps, []string{"-n", n.NS, "link", "set", n.Iface, "up"})
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			p.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	if err := p.waitLinkLocal(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// waitLinkLocal waits until both ends have a usable IPv6 link-local
// address and the link is up.
func (p *Pair) waitLinkLocal(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond) // the kernel sends no event we can wait on here
	defer tick.Stop()
	for _, n := range []Node{p.A, p.B} {
		for {
			out, err := exec.CommandContext(ctx, "ip", "-n", n.NS, "-6", "addr", "show", "dev", n.Iface, "scope", "link").CombinedOutput()
			s := string(out)
			if err == nil && strings.Contains(s, "fe80") && !strings.Contains(s, "tentative") && strings.Contains(s, "UP") {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: no usable link-local address: %s", n.NS, s)
			case <-tick.C:
			}
		}
	}
	return nil
}

// Close removes the namespaces (and with them the link).
func (p *Pair) Close() {
	for _, ns := range []string{p.A.NS, p.B.NS} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}
