package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillDuringTreeRestore: a daemon killed (SIGKILL) while it restores
// a whole folder comes back with the folder as it was or as restored,
// never a mix; the replaced files are kept.
func TestKillDuringTreeRestore(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	const n = 300
	old := time.Now().Add(-3 * time.Hour)
	for i := range n {
		p := filepath.Join(da, fmt.Sprintf("docs/%03d.txt", i))
		write(t, p, random(uint64(500+i), 8<<10))
		os.Chtimes(p, old, old)
	}
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B filled", func() error { return SameTrees(da, db) })
	before := mustTree(t, da)
	for i := range n {
		write(t, filepath.Join(db, fmt.Sprintf("docs/%03d.txt", i)), []byte("ENCRYPTED"))
	}
	Until(t, syncTimeout, both, "the damage on A", func() error {
		if got, _ := os.ReadFile(filepath.Join(da, fmt.Sprintf("docs/%03d.txt", n-1))); string(got) != "ENCRYPTED" {
			return fmt.Errorf("not yet")
		}
		return SameTrees(da, db)
	})
	b.Stop() // A alone: what it does is all that changes its folder

	done := make(chan error, 1)
	go func() { _, err := a.Shoal("restore", da, "--at", "1h"); done <- err }()
	journal := filepath.Join(da, ".shoal", "restore-journal")
	tick := time.NewTicker(time.Millisecond)
	deadline := time.After(syncTimeout)
	phase := "before the journal"
wait:
	for {
		select {
		case <-tick.C:
			if _, err := os.Stat(journal); err == nil {
				phase = "with the journal written"
				break wait
			}
		case err := <-done:
			phase = fmt.Sprintf("after the restore returned (%v)", err)
			break wait
		case <-deadline:
			t.Fatal("the restore neither began renaming nor returned")
		}
	}
	tick.Stop()
	a.Kill()
	t.Logf("killed %s", phase)
	a.Restart()
	Until(t, syncTimeout, []*Node{a}, "A idle again", func() error {
		if st := a.Status(); len(st) != 1 || st[0].State != "idle" {
			return fmt.Errorf("state %v", st)
		}
		return nil
	})
	now := mustTree(t, da)
	restored, damaged := 0, 0
	for i := range n {
		p := fmt.Sprintf("docs/%03d.txt", i)
		switch now[p] {
		case before[p]:
			restored++
		case "file ENCRYPTED":
			damaged++
		default:
			t.Fatalf("%s holds neither version: %.40q", p, now[p])
		}
	}
	if restored != n && damaged != n {
		t.Fatalf("half a restore: %d files restored, %d not", restored, damaged)
	}
	if _, err := os.Stat(journal); err == nil {
		t.Fatal("the journal outlived the restart")
	}
	if left := tempFiles(filepath.Join(da, ".shoal", "tmp")); strings.Contains(strings.Join(left, " "), "restore-") {
		t.Fatalf("staged files left: %v", left)
	}
	t.Logf("%d of %d files restored; finished at the restart: %v", restored, n, strings.Contains(a.Log(), "finishing an interrupted restore"))
}
