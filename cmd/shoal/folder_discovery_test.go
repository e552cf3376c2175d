package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shareKey shares dir on d and returns the read-write key it printed.
func shareKey(t *testing.T, d *daemonProc, dir string) string {
	t.Helper()
	out := ok(t, d.home, "share", dir)
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "shoal:rw:") {
			return f
		}
	}
	t.Fatalf("share printed no key:\n%s", out)
	return ""
}

// waitFileIs waits until path holds want.
func waitFileIs(t *testing.T, path string, want []byte, d *daemonProc) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // polls a file a real process writes
	defer tick.Stop()
	for {
		if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, want) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s never arrived:\n%s", path, ok(t, d.home, "peers", "-a"))
		case <-tick.C:
		}
	}
}

// waitPeerCount waits until d lists n connected peers.
func waitPeerCount(t *testing.T, d *daemonProc, n int) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process
	defer tick.Stop()
	for {
		out := ok(t, d.home, "peers")
		table, _, _ := strings.Cut(out, "\n\n")
		if got := len(strings.Split(strings.TrimSpace(table), "\n")) - 1; got >= n {
			return table
		}
		select {
		case <-deadline:
			t.Fatalf("%s has not %d peers:\n%s", d.id, n, ok(t, d.home, "peers", "-a"))
		case <-tick.C:
		}
	}
}

// TestFolderRendezvousFourDaemons: four daemons share one DHT bootstrap
// address and nothing else (no --peer, no mDNS); one shares a folder,
// three join with only the key: all meet under the folder's rendezvous
// key, connect each to all, and the folder syncs.
func TestFolderRendezvousFourDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four daemons")
	}
	a := startDaemon(t)
	dirA := t.TempDir()
	want := bytes.Repeat([]byte("met on the DHT\n"), 4000)
	if err := os.WriteFile(filepath.Join(dirA, "f.txt"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	key := shareKey(t, a, dirA)
	var others []*daemonProc
	for range 3 {
		d := startDaemon(t, "--bootstrap", a.dht)
		dir := filepath.Join(t.TempDir(), "joined")
		ok(t, d.home, "join", key, dir)
		others = append(others, d)
		defer waitFileIs(t, filepath.Join(dir, "f.txt"), want, d)
	}
	for _, d := range append(others, a) {
		waitPeerCount(t, d, 3)
	}
}

// TestFolderPexChain: a shares a folder, b (given a's address) and c
// (given only b's) join it; c reaches a through peer exchange within the
// folder, and once b stops, a change on a still reaches c.
func TestFolderPexChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	a := startDaemon(t, "--no-dht")
	dirA := t.TempDir()
	if err := os.WriteFile(filepath.Join(dirA, "one.txt"), []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := shareKey(t, a, dirA)
	b := startDaemon(t, "--no-dht", "--peer", a.addr())
	ok(t, b.home, "join", key, filepath.Join(t.TempDir(), "b"))
	c := startDaemon(t, "--no-dht", "--peer", b.addr())
	dirC := filepath.Join(t.TempDir(), "c")
	ok(t, c.home, "join", key, dirC)
	waitFileIs(t, filepath.Join(dirC, "one.txt"), []byte("first"), c)
	if l := waitPeerLine(t, c, a.id); !strings.Contains(l, "pex") {
		t.Fatalf("c reached a, but not through peer exchange: %q", l)
	}
	b.stop(t)
	if err := os.WriteFile(filepath.Join(dirA, "two.txt"), []byte("after b left"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFileIs(t, filepath.Join(dirC, "two.txt"), []byte("after b left"), c)
}
