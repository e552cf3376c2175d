package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/discovery/netnstest"
)

// nsPair makes two network namespaces on one veth link, or skips.
func nsPair(t *testing.T, opt netnstest.Options) *netnstest.Pair {
	t.Helper()
	if testing.Short() {
		t.Skip("starts daemons in network namespaces")
	}
	if err := netnstest.Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	p, err := netnstest.NewPair(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// nsDaemon starts `shoal daemon` in n with mDNS on and only the given flags.
func nsDaemon(t *testing.T, n netnstest.Node, args ...string) *daemonProc {
	t.Helper()
	return startDaemonIn(t, t.TempDir(), n.Prefix(), append([]string{"--listen", "[::]:4777", "--api", "127.0.0.1:4778", "-v"}, args...)...)
}

// nsShoal runs shoal on d's home inside d's namespace.
func nsShoal(t *testing.T, d *daemonProc, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, d.prefix...), shoalBin, "--home", d.home), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("shoal %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// nsWaitPeer waits until `shoal peers` on d lists id found through src.
func nsWaitPeer(t *testing.T, d *daemonProc, id, src string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // polls a real process
	defer tick.Stop()
	for {
		out := nsShoal(t, d, "peers")
		table, _, _ := strings.Cut(out, "\n\n")
		for _, l := range strings.Split(table, "\n") {
			if strings.HasPrefix(l, id) && strings.Contains(l, src) {
				return l
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s never connected to %s through %s:\n%s\nlog:\n%s", d.id, id, src, nsShoal(t, d, "peers", "-a"), d.stderr.String())
		case <-tick.C:
		}
	}
}

// TestMDNSAcrossNamespaces: two daemons in two network namespaces on one
// link, no --peer, no DHT, find each other by mDNS and connect, over
// IPv4 and IPv6, then with IPv6 link-local addresses only.
func TestMDNSAcrossNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  netnstest.Options
		addr string // what the address of the connection must contain
	}{
		{"ipv4", netnstest.Options{}, "10.231.0."},
		{"ipv6-link-local-only", netnstest.Options{IPv6Only: true}, "fe80::"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := nsPair(t, tc.opt)
			a := nsDaemon(t, p.A, "--no-dht")
			b := nsDaemon(t, p.B, "--no-dht")
			la := nsWaitPeer(t, a, b.id, "mdns")
			nsWaitPeer(t, b, a.id, "mdns")
			if !strings.Contains(la, tc.addr) {
				t.Fatalf("connection not over %s: %s", tc.addr, la)
			}
		})
	}
}
