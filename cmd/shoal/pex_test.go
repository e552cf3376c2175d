package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPexChain: a serves a pin, b (given a's address) pins it too; c is
// given only b's address, pins the same root, and ends up connected to a
// through peer exchange, and stays so once b stops.
func TestPexChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	a := startDaemon(t, "--no-dht")
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, bytes.Repeat([]byte("pex chain "), 50_000), 0o644); err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(ok(t, a.home, "add", "-Q", src))
	b := startDaemon(t, "--no-dht", "--peer", a.addr())
	ok(t, b.home, "--timeout", "60s", "pin", "add", root)
	c := startDaemon(t, "--no-dht", "--peer", b.addr())
	ok(t, c.home, "--timeout", "60s", "pin", "add", root)
	if l := waitPeerLine(t, c, a.id); !strings.Contains(l, "pex") {
		t.Fatalf("c reached a, but not through peer exchange: %q", l)
	}
	b.stop(t)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process
	defer tick.Stop()
	for peerLine(t, c, b.id) != "" {
		select {
		case <-deadline:
			t.Fatal("c still lists b after it stopped")
		case <-tick.C:
		}
	}
	if peerLine(t, c, a.id) == "" {
		t.Fatalf("c lost a when b stopped:\n%s", ok(t, c.home, "peers", "-a"))
	}
}
