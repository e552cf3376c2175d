package badgerstore

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// TestTrimMapped writes 128 MiB through one batch and checks that the
// value log does not stay resident (Linux) and that every block still
// reads back intact after its pages were advised out.
func TestTrimMapped(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	const n, size = 2048, 64 << 10
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	var before rssPeak
	before.sample()
	block := putBlocks(t, s, n, size)
	var after rssPeak
	after.sample()
	if runtime.GOOS == "linux" && before.file > 0 {
		if grew := (after.file - before.file) >> 20; grew > 80 {
			t.Errorf("file-backed RSS grew by %d MiB writing 128 MiB; the value log stays mapped", grew)
		}
	}
	for i := range n {
		data := block(i)
		got, err := s.Get(ctx, unixfs.RawCIDOf(data))
		if err != nil || string(got) != string(data) {
			t.Fatalf("block %d after trim: %d bytes, %v", i, len(got), err)
		}
	}
}

// TestTrim fills the LSM tree (tables and the memtable's log, all
// mapped) and checks that Trim takes their pages out of this process's
// memory (Linux) and that every block reads back afterwards.
func TestTrim(t *testing.T) {
	const n, size = 24000, 512 // under valueThreshold: kept in the LSM tree
	dir := t.TempDir()
	s := open(t, dir, Options{})
	defer s.Close()
	block := putBlocks(t, s, n, size)
	readAll := func() {
		for i := range n {
			data := block(i)
			got, err := s.Get(ctx, unixfs.RawCIDOf(data))
			if err != nil || string(got) != string(data) {
				t.Fatalf("block %d: %d bytes, %v", i, len(got), err)
			}
		}
	}
	readAll()
	before := mappedRSS(t, s.mapDir)
	s.Trim()
	after := mappedRSS(t, s.mapDir)
	if runtime.GOOS == "linux" {
		if before < 1<<20 {
			t.Fatalf("only %d KiB of the store mapped before Trim: the test does not exercise it", before>>10)
		}
		if after > before/4 {
			t.Errorf("mapped store pages resident: %d KiB before Trim, %d KiB after", before>>10, after>>10)
		}
	}
	readAll()
}

// TestTrimChanged: TrimChanged trims once badger has made a file since
// the last call (a memtable flushed to a table) and not again until it
// makes another.
func TestTrimChanged(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	s.TrimChanged() // the files Open made
	if s.TrimChanged() {
		t.Fatal("TrimChanged trimmed with nothing new in the store's directory")
	}
	before, err := os.ReadDir(s.mapDir)
	if err != nil {
		t.Fatal(err)
	}
	putBlocks(t, s, 2*memTableSize/512, 512) // twice a memtable: a table at least
	if err := s.db.Sync(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadDir(s.mapDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) == len(before) {
		t.Skipf("no file made or removed writing two memtables (%d files): nothing to see", len(after))
	}
	if !s.TrimChanged() {
		t.Fatalf("TrimChanged did not trim after the store went from %d to %d files", len(before), len(after))
	}
	if s.TrimChanged() {
		t.Fatal("TrimChanged trimmed twice for one change")
	}
}

// mappedRSS sums the resident bytes of this process's mappings of files
// in dir (0 where /proc is missing).
func mappedRSS(t *testing.T, dir string) int64 {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	var sum int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			in = len(f) >= 6 && filepath.Dir(f[5]) == dir
		case in && len(f) == 3 && f[0] == "Rss:":
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += kb << 10
		}
	}
	return sum
}

// putBlocks writes n distinct blocks of size bytes through one batch and
// returns the function that makes block i, to read them back with.
func putBlocks(t *testing.T, s *Store, n, size int) func(i int) []byte {
	t.Helper()
	block := func(i int) []byte {
		b := make([]byte, size)
		for off := 0; off < size; off += 32 {
			sum := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i*size+off)))
			copy(b[off:], sum[:])
		}
		return b
	}
	b := s.NewBatch(ctx)
	defer b.Discard()
	for i := range n {
		data := block(i)
		if err := b.Put(unixfs.RawCIDOf(data), data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return block
}
