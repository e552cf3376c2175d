package main

import (
	"context"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
	"golang.org/x/net/ipv4"

	"github.com/shoal-sync/shoal/discovery/mdns"
	"github.com/shoal-sync/shoal/discovery/netnstest"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
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

// waitLog waits until d has logged every one of subs.
func waitLog(t *testing.T, d *daemonProc, subs ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // polls a real process's log
	defer tick.Stop()
	for {
		log := d.stderr.String()
		missing := ""
		for _, s := range subs {
			if !strings.Contains(log, s) {
				missing = s
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s never logged %q:\n%s", d.id, missing, log)
		case <-tick.C:
		}
	}
}

// TestMDNSBadInput: on the same link as two real daemons, a liar
// advertises another node's listener under a made-up node ID, another
// advertises garbage TXT fields, and raw garbage goes to the mDNS group.
// The daemon refuses the liar by its certificate and says so, ignores and
// logs the garbage, and still connects to the real peer.
func TestMDNSBadInput(t *testing.T) {
	p := nsPair(t, netnstest.Options{})
	b := nsDaemon(t, p.B, "--no-dht")
	c := nsDaemon(t, p.B, "--no-dht", "--no-mdns", "--listen", "0.0.0.0:4779", "--api", "127.0.0.1:4780")
	liar, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	var servers []*zeroconf.Server
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	err = p.A.Do(func() error {
		ifaces, err := mdns.Suitable()
		if err != nil {
			return err
		}
		for _, s := range []struct {
			name string
			port int
			ip   string
			txt  []string
		}{
			{liar.ID().String(), 4779, p.B.IPv4, mdns.Record{ID: liar.ID(), TCPPort: 4779, Version: wire.ProtocolMajor}.Text()},
			{"garbage", 4777, p.B.IPv4, []string{"id=garbage", "tcp=99999", "v=1"}},
		} {
			srv, err := zeroconf.RegisterProxy(s.name, mdns.Service, "local.", s.port, s.name, []string{s.ip}, s.txt, ifaces)
			if err != nil {
				return err
			}
			servers = append(servers, srv)
		}
		conn, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		defer conn.Close()
		pc := ipv4.NewPacketConn(conn)
		if err := pc.SetMulticastInterface(&ifaces[0]); err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(1, 2))
		group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
		for i := range 200 {
			junk := make([]byte, 1+r.IntN(512))
			for j := range junk {
				junk[j] = byte(r.Uint32())
			}
			if i%2 == 0 && len(junk) > 12 {
				copy(junk, []byte{0, 0, 0x84, 0, 0, 0, 0, 5}) // a response header claiming 5 answers
			}
			if _, err := pc.WriteTo(junk, nil, group); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a := nsDaemon(t, p.A, "--no-dht")
	nsWaitPeer(t, a, b.id, "mdns")
	waitLog(t, a, "not the node its source named", "mDNS: ignored an answer")
	if table, _, _ := strings.Cut(nsShoal(t, a, "peers"), "\n\n"); strings.Contains(table, c.id) {
		t.Fatalf("a connected to c, which the liar named under another ID:\n%s", table)
	}
	if out := nsShoal(t, a, "peers", "-a"); !strings.Contains(out, ":4779") {
		t.Fatalf("the liar's address is not among a's candidates:\n%s", out)
	}
}
