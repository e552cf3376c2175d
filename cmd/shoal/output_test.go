package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInitTwice: init on an existing home says so and keeps its key.
func TestInitTwice(t *testing.T) {
	home := t.TempDir()
	first := ok(t, home, "init")
	if !strings.Contains(first, "initialised") {
		t.Fatalf("first init: %q", first)
	}
	second := ok(t, home, "init")
	if !strings.Contains(second, "exists") || strings.Contains(second, "initialised") {
		t.Fatalf("init on an existing home: %q, want it to say the home exists", second)
	}
	id := strings.Fields(strings.Split(first, "\n")[1])
	if !strings.Contains(second, id[len(id)-1]) {
		t.Fatalf("node ID changed: %q then %q", first, second)
	}
}

// TestAddPrintsPathsAsGiven: `add` of a relative path prints the same
// lines with a daemon as without one.
func TestAddPrintsPathsAsGiven(t *testing.T) {
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "photos", "2026"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"photos/a.jpg", "photos/2026/b.jpg", "notes.md"} {
		if err := os.WriteFile(filepath.Join(work, f), []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add := func(home string) string {
		cmd := exec.Command(shoalBin, "--home", home, "add", "photos", "./notes.md")
		cmd.Dir = work
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("add: %v: %s", err, errb.String())
		}
		return out.String()
	}
	offline := add(t.TempDir())
	d := startDaemon(t)
	online := add(d.home)
	if offline != online {
		t.Fatalf("add printed\n%s\nwithout a daemon and\n%s\nwith one", offline, online)
	}
	if strings.Contains(online, work) || !strings.Contains(online, " photos/2026/b.jpg\n") || !strings.Contains(online, " notes.md\n") {
		t.Fatalf("add did not print the paths as given:\n%s", online)
	}
}

// TestDaemonLogsPeersAndStop: at the default level a daemon says when a
// peer connects and when it stops.
func TestDaemonLogsPeersAndStop(t *testing.T) {
	a := startDaemon(t, "--no-dht")
	b := startDaemon(t, "--no-dht", "--peer", a.addr())
	waitPeers(t, a, 1)
	b.stop(t)
	waitNoPeers(t, a) // a has seen b go before it stops itself
	a.stop(t)
	for _, c := range []struct {
		name string
		d    *daemonProc
		want []string
	}{
		{"a", a, []string{"peer connected", "dir=in", "peer disconnected", "daemon stopped"}},
		{"b", b, []string{"connected to peer", "daemon stopped"}},
	} {
		log := c.d.stderr.String()
		for _, w := range c.want {
			if !strings.Contains(log, w) {
				t.Errorf("daemon %s's log does not say %q:\n%s", c.name, w, log)
			}
		}
	}
}

// waitNoPeers waits until `shoal peers` on d lists none.
func waitNoPeers(t *testing.T, d *daemonProc) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process: there is no event to wait on
	defer tick.Stop()
	for {
		table, _, _ := strings.Cut(ok(t, d.home, "peers"), "\n\n")
		if len(strings.Split(strings.TrimSpace(table), "\n")) == 1 {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s still has peers:\n%s", d.id, table)
		case <-tick.C:
		}
	}
}
