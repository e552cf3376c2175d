package main

import (
	"strings"
	"testing"
	"time"
)

// peerLine returns the line of `shoal peers` on d that names id.
func peerLine(t *testing.T, d *daemonProc, id string) string {
	t.Helper()
	out := ok(t, d.home, "peers")
	table, _, _ := strings.Cut(out, "\n\n")
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, id) {
			return l
		}
	}
	return ""
}

// waitPeerLine waits until `shoal peers` on d lists id, and returns its line.
func waitPeerLine(t *testing.T, d *daemonProc, id string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process
	defer tick.Stop()
	for {
		if l := peerLine(t, d, id); l != "" {
			return l
		}
		select {
		case <-deadline:
			t.Fatalf("%s never listed %s:\n%s", d.id, id, ok(t, d.home, "peers", "-a"))
		case <-tick.C:
		}
	}
}

// TestRestartReconnectsToRemembered: b, given a's address once, is
// restarted with no source at all (no --peer, no DHT, no mDNS) and
// connects to a again from the address it remembered.
func TestRestartReconnectsToRemembered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	a := startDaemon(t, "--no-dht")
	b := startDaemon(t, "--no-dht", "--peer", a.addr())
	if l := waitPeerLine(t, b, a.id); !strings.Contains(l, "static") {
		t.Fatalf("a's source on b is not static: %q", l)
	}
	b.stop(t)
	b2 := startDaemonAt(t, b.home, "--no-dht")
	if l := waitPeerLine(t, b2, a.id); !strings.Contains(l, "remembered") {
		t.Fatalf("a's source on the restarted b is not remembered: %q", l)
	}
}

// TestPeersAddRm: `shoal peers add` connects a running daemon to a peer
// and keeps it across a restart; `shoal peers rm` forgets it.
func TestPeersAddRm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	a := startDaemon(t, "--no-dht")
	b := startDaemon(t, "--no-dht")
	if out := ok(t, b.home, "peers", "add", a.addr()); !strings.Contains(out, "added") {
		t.Fatalf("peers add printed %q", out)
	}
	if l := waitPeerLine(t, b, a.id); !strings.Contains(l, "static") {
		t.Fatalf("a's source on b is not static: %q", l)
	}
	if out := ok(t, b.home, "peers", "-a"); !strings.Contains(out, "candidates:") || !strings.Contains(out, a.listen) {
		t.Fatalf("peers -a does not list a's address as a candidate:\n%s", out)
	}
	b.stop(t)
	b = startDaemonAt(t, b.home, "--no-dht")
	if l := waitPeerLine(t, b, a.id); !strings.Contains(l, "static") {
		t.Fatalf("after a restart, a's source on b is not static: %q", l)
	}
	ok(t, b.home, "peers", "rm", a.addr())
	if out := ok(t, b.home, "peers", "-a"); strings.Contains(out, "candidates:") {
		t.Fatalf("a still a candidate after rm:\n%s", out)
	}
	if r := shoal(t, b.home, nil, "peers", "rm", a.addr()); r.code == 0 {
		t.Fatal("removing a peer twice: no error")
	}
}
