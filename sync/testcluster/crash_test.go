package testcluster

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestKillDuringPull kills the receiving daemon (SIGKILL) while it pulls,
// three times: no file in its folder is ever half written, the
// temporary file of the large file survives and is taken up, and the
// folder converges once the daemon runs again.
func TestKillDuringPull(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr(), "--max-download-rate", "6MiB")
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	big := random(7, 24<<20)
	write(t, filepath.Join(da, "big.bin"), big)
	for i := range 40 {
		write(t, filepath.Join(da, fmt.Sprintf("small/%02d", i)), random(uint64(100+i), 20<<10))
	}
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	tmpDir := filepath.Join(db, ".shoal", "tmp")
	for round := range 3 {
		// Wait until the large file's temporary file has grown past
		// what the last round left, then kill.
		var grown int64
		Until(t, syncTimeout, []*Node{b}, "the pull under way", func() error {
			for _, p := range tempFiles(tmpDir) {
				if info, err := os.Stat(p); err == nil && info.Size() == int64(len(big)) {
					if n := allocated(p); n > grown+(2<<20) {
						grown = n
						return nil
					}
				}
			}
			if _, err := os.Stat(filepath.Join(db, "big.bin")); err == nil {
				return nil // done already: nothing left to interrupt
			}
			return fmt.Errorf("no growing temporary file")
		})
		b.Kill()
		checkWhole(t, da, db)
		if _, err := os.Stat(filepath.Join(db, "big.bin")); err != nil && len(tempFiles(tmpDir)) == 0 {
			t.Fatalf("round %d: the interrupted pull's temporary file is gone", round)
		}
		if round == 2 {
			// Temporary files no pull wants (a version since replaced,
			// the flat layout of older versions): gone once B's first
			// pull round after the restart is through.
			write(t, filepath.Join(tmpDir, "5eed0000000000000000aa00"), []byte("stray, flat"))
			write(t, filepath.Join(tmpDir, "01", "5eed0000000000000000aa01"), []byte("stray"))
		}
		b.Restart()
	}
	Until(t, 2*syncTimeout, []*Node{a, b}, "B converges after the kills", func() error { return SameTrees(da, db) })
	Until(t, syncTimeout, []*Node{b}, "B's temporary files gone", func() error {
		if left := tempFiles(tmpDir); len(left) != 0 {
			return fmt.Errorf("%d temporary files left after convergence: %v", len(left), left)
		}
		return nil
	})
}

// tempFiles lists the files below dir (a folder's .shoal/tmp, whose
// files live in subdirectories).
func tempFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// checkWhole fails if any file in db differs from its counterpart in da:
// a file is either absent or complete, never half written.
func checkWhole(t *testing.T, da, db string) {
	t.Helper()
	tb, err := Tree(db)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := Tree(da)
	if err != nil {
		t.Fatal(err)
	}
	for p, v := range tb {
		if ta[p] != v {
			t.Fatalf("%s on B is not A's (half written?): %d vs %d bytes", p, len(v), len(ta[p]))
		}
	}
}

// allocated returns the bytes of a sparse file that hold data.
func allocated(p string) int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	var n int64
	const step = 64 << 10
	zero := make([]byte, step)
	for off := 0; off < len(b); off += step {
		end := min(off+step, len(b))
		if !bytes.Equal(b[off:end], zero[:end-off]) {
			n += int64(end - off)
		}
	}
	return n
}
