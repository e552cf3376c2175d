package pull

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// piece is a block of a file, as a pull puts it.
type piece struct {
	off int64
	n   int
}

// pieces cuts size bytes into blocks of 1 to 64 KiB.
func pieces(rng *rand.Rand, size int64) []piece {
	var out []piece
	for off := int64(0); off < size; {
		n := int(min(size-off, int64(1+rng.IntN(64<<10))))
		out = append(out, piece{off, n})
		off += int64(n)
	}
	return out
}

// windowed shuffles ps as the swarm's picker orders requests: each next
// one at random from the first w not yet taken.
func windowed(rng *rand.Rand, ps []piece, w int) []piece {
	rest := append([]piece(nil), ps...)
	out := make([]piece, 0, len(ps))
	for len(rest) > 0 {
		i := rng.IntN(min(w, len(rest)))
		out = append(out, rest[i])
		rest = append(rest[:i], rest[i+1:]...)
	}
	return out
}

// TestSegWriter writes a file's blocks in the orders a pull sees, with
// and without the memory to gather them, and checks the file's bytes, and
// that gathered segments were written direct where the order allowed.
func TestSegWriter(t *testing.T) {
	const small = 6<<20 + 12345 // six whole segments and a short last one
	tests := []struct {
		name       string
		size       int64
		window     int // 0: every block in reverse order
		budget     int64
		direct     bool // open for direct writes
		minDirects int  // segments written direct, at least
		spills     bool // some segments must spill
	}{
		{"in order", small, 1, 32 << 20, true, 6, false},
		{"picker window", small, 32, 32 << 20, true, 6, false},
		{"picker window, larger file", 40 << 20, 32, 32 << 20, true, 40, false},
		{"reversed", small, 0, 32 << 20, true, 6, false},
		{"scattered beyond the segments a file may hold", 40 << 20, 1 << 20, 32 << 20, true, 0, true},
		{"budget of two segments", small, 32, 2 << 20, true, 1, false},
		{"no budget", small, 1, 0, true, 0, false},
		{"no direct file", small, 1, 32 << 20, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			rng := rand.New(rand.NewPCG(1, uint64(tt.window)))
			want := make([]byte, size)
			for i := range want {
				want[i] = byte(rng.Uint32())
			}
			ps := pieces(rng, size)
			switch {
			case tt.window == 0:
				for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
					ps[i], ps[j] = ps[j], ps[i]
				}
			default:
				ps = windowed(rng, ps, tt.window)
			}
			name := filepath.Join(t.TempDir(), "f")
			f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			var direct *os.File
			if tt.direct {
				direct = openDirect(name)
			}
			var budget *WriteBudget
			if tt.budget > 0 {
				budget = NewWriteBudget(tt.budget)
			}
			w := newSegWriter(f, direct, size, budget)
			got := make([]byte, 4<<10)
			for i, p := range ps {
				if err := w.WriteAt(want[p.off:p.off+int64(p.n)], p.off); err != nil {
					t.Fatal(err)
				}
				// What was written reads back at once, gathered or not
				// (a repeated block is copied from its first place).
				if i%7 == 0 {
					n := min(p.n, len(got))
					if err := w.ReadAt(got[:n], p.off); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got[:n], want[p.off:p.off+int64(n)]) {
						t.Fatalf("read back at %d: not what was written", p.off)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
			disk, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(disk, want) {
				t.Fatalf("file differs from what was written (%d direct, %d spilled)", w.directs, w.spills)
			}
			if direct == nil && tt.direct && tt.minDirects > 0 {
				t.Skip("this filesystem does not take direct writes")
			}
			if w.directs < tt.minDirects {
				t.Errorf("%d segments written direct, want at least %d", w.directs, tt.minDirects)
			}
			if tt.spills != (w.spills > 0) {
				t.Errorf("%d segments spilled, want spills %v", w.spills, tt.spills)
			}
			if budget != nil && len(budget.sem) != 0 {
				t.Errorf("%d segments of the budget not given back", len(budget.sem))
			}
		})
	}
}
