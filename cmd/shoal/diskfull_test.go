package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/store/diskfree/diskfreetest"
)

// writeRandom writes n random bytes (from seed) to a new file in dir.
func writeRandom(t *testing.T, dir string, n int, seed byte) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	p := filepath.Join(dir, "f"+string('a'+seed%26))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// failsNoSpace runs shoal and wants it to fail with a one-line "no space
// left on device".
func failsNoSpace(t *testing.T, home string, args ...string) {
	t.Helper()
	r := shoal(t, home, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stderr, "SIGBUS") {
		t.Fatalf("shoal %s on a full disk: exit %d, stderr %q; want exit 1 and no space left on device",
			strings.Join(args, " "), r.code, r.stderr)
	}
}

// TestDiskFull runs a daemon whose home is on a small filesystem of the
// test's own and fills it: with pin add (fetching from a peer), with add,
// and with get -o onto another full filesystem. Each fails with "no space
// left on device"; the daemon keeps serving what it has; on a disk filled
// to the last byte the store still opens and reads; with room again,
// writes work.
func TestDiskFull(t *testing.T) {
	fs := diskfreetest.Mount(t, 128<<20) // floor 96 MiB: about 32 MiB for blocks
	target := diskfreetest.Mount(t, 32<<20)
	src := t.TempDir()
	a := startDaemon(t, "--no-dht")
	big, _ := writeRandom(t, src, 150<<20, 1) // more than the disk holds
	bigCID := strings.TrimSpace(ok(t, a.home, "add", "-Q", big))
	medium, mediumData := writeRandom(t, src, 8<<20, 2)
	mediumCID := strings.TrimSpace(ok(t, a.home, "add", "-Q", medium))

	homeB := filepath.Join(fs, "home")
	b := startDaemonAt(t, homeB, "--no-dht", "--peer", a.addr())
	waitPeers(t, b, 1)
	small, smallData := writeRandom(t, src, 1<<20, 3)
	smallCID := strings.TrimSpace(ok(t, homeB, "add", "-Q", small))

	// Each write that does not fit fails cleanly; the daemon still serves.
	failsNoSpace(t, homeB, "pin", "add", bigCID)
	failsNoSpace(t, homeB, "add", "-Q", big)
	failsNoSpace(t, homeB, "get", bigCID, "-o", filepath.Join(target, "big"))
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("get -o left %d entries on the full target", len(entries))
	}
	if got := ok(t, homeB, "cat", smallCID); !bytes.Equal([]byte(got), smallData) {
		t.Fatal("stored content no longer reads after the disk filled")
	}
	ok(t, homeB, "stat")
	b.stop(t)

	// Filled to the last byte: the store opens read-only and reads. (A
	// daemon cannot start there: it writes its API address to the home.)
	filler := filepath.Join(fs, "filler")
	diskfreetest.Fill(t, filler)
	ok(t, homeB, "stat")
	if got := ok(t, homeB, "cat", smallCID); !bytes.Equal([]byte(got), smallData) {
		t.Fatal("stored content does not read on a full disk")
	}
	failsNoSpace(t, homeB, "add", "-Q", small)

	// Room again (the filler gone, the disk grown): writes work.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	diskfreetest.Resize(t, fs, 200<<20)
	b = startDaemonAt(t, homeB, "--no-dht", "--peer", a.addr())
	waitPeers(t, b, 1)
	ok(t, homeB, "pin", "add", mediumCID)
	if got := ok(t, homeB, "cat", mediumCID); !bytes.Equal([]byte(got), mediumData) {
		t.Fatal("content pinned once there was room reads back wrong")
	}
	out := filepath.Join(target, "medium")
	ok(t, homeB, "get", mediumCID, "-o", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, mediumData) {
		t.Fatalf("get -o with room: %v", err)
	}
}
