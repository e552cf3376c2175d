package chunker

import (
	"crypto/sha256"
	"slices"
	"testing"
)

// offsets turns chunk lengths into cut offsets.
func offsets(lens []int) []int {
	out := make([]int, len(lens))
	off := 0
	for i, n := range lens {
		off += n
		out[i] = off
	}
	return out
}

func TestGearTable(t *testing.T) {
	x := uint64(gearSeed)
	for i, g := range gear {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		if g != z {
			t.Fatalf("gear[%d] = %#x, splitmix64 gives %#x", i, g, z)
		}
	}
}

func TestMasks(t *testing.T) {
	k := newCutter(DefaultConfig())
	if want := uint64(0x7fffe00000000000); k.maskS != want { // 18 bits
		t.Errorf("maskS = %#x, want %#x", k.maskS, want)
	}
	if want := uint64(0x7ffe000000000000); k.maskL != want { // 14 bits
		t.Errorf("maskL = %#x, want %#x", k.maskL, want)
	}
	for _, tc := range []struct{ avg, bits int }{
		{65536, 16}, {65535, 16}, {98303, 16}, {98305, 17}, {8192, 13}, {100, 7},
	} {
		if got := avgBits(tc.avg); got != tc.bits {
			t.Errorf("avgBits(%d) = %d, want %d", tc.avg, got, tc.bits)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		data []byte
		want []int
	}{
		{"default", DefaultConfig(), randBytes(0x5eed, 8<<20), goldenDefault},
		{"small", Config{Min: 2048, Avg: 8192, Max: 32768}, randBytes(0x5eed2, 1<<20), goldenSmall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newCutter(tc.c)
			for name, cut := range map[string]func(*cutter, []byte) int{
				"fast": (*cutter).cut,
				"ref":  refCut,
			} {
				got := offsets(cutAll(k, tc.data, cut))
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s cut offsets differ from golden:\n got %v\nwant %v", name, got, tc.want)
				}
			}
		})
	}
}

// TestCutMatchesReference checks the two-bytes-a-step cutter against the
// textbook loop on many configs, including odd sizes and short inputs.
func TestCutMatchesReference(t *testing.T) {
	data := randBytes(7, 4<<20)
	// Runs of one byte value and zeros: no cut points, so max must cut.
	copy(data[1<<20:], make([]byte, 300<<10))
	for i := 2 << 20; i < 2<<20+200<<10; i++ {
		data[i] = 0xab
	}
	for _, c := range []Config{
		DefaultConfig(),
		{Min: 64, Avg: 65, Max: 66},
		{Min: 64, Avg: 256, Max: 1024},
		{Min: 1001, Avg: 4097, Max: 9999},
		{Min: 2047, Avg: 8191, Max: 32767},
		{Min: 100000, Avg: 300001, Max: MaxChunkSize},
	} {
		k := newCutter(c)
		for _, n := range []int{0, 1, 63, 64, 65, 1000, c.Avg - 1, c.Avg, c.Avg + 1, c.Max, len(data)} {
			d := data[:min(n, len(data))]
			got, want := cutAll(k, d, (*cutter).cut), cutAll(k, d, refCut)
			if !slices.Equal(got, want) {
				t.Errorf("%s on %d bytes: cut lengths %v, reference %v", c, len(d), got, want)
			}
		}
	}
}

func TestChunkSizesWithinBounds(t *testing.T) {
	data := randBytes(11, 16<<20)
	copy(data[3<<20:], make([]byte, 1<<20)) // forces max-size cuts
	for _, c := range []Config{DefaultConfig(), {Min: 2048, Avg: 8192, Max: 32768}} {
		lens := cutAll(newCutter(c), data, (*cutter).cut)
		sawMax := false
		for i, n := range lens {
			last := i == len(lens)-1
			if n > c.Max || (n < c.Min && !last) || n <= 0 {
				t.Fatalf("%s: chunk %d has %d bytes, want within [%d,%d]", c, i, n, c.Min, c.Max)
			}
			sawMax = sawMax || n == c.Max
		}
		if !sawMax {
			t.Errorf("%s: a MiB of zeros gave no max-size chunk", c)
		}
		if avg := len(data) / len(lens); avg < c.Min || avg > c.Max {
			t.Errorf("%s: mean chunk size %d outside [min,max]", c, avg)
		}
	}
}

func TestFixedSizes(t *testing.T) {
	data := randBytes(3, 1000003)
	for _, size := range []int{1, 7, 4096, 262144, 1000003, MaxChunkSize} {
		lens := cutAll(newCutter(Config{Kind: Fixed, Size: size}), data, (*cutter).cut)
		want := len(data) / size
		if len(data)%size != 0 {
			want++
		}
		if len(lens) != want {
			t.Fatalf("size-%d: %d chunks, want %d", size, len(lens), want)
		}
		for i, n := range lens[:len(lens)-1] {
			if n != size {
				t.Fatalf("size-%d: chunk %d has %d bytes", size, i, n)
			}
		}
		if last, wantLast := lens[len(lens)-1], len(data)-(want-1)*size; last != wantLast {
			t.Fatalf("size-%d: last chunk %d bytes, want %d", size, last, wantLast)
		}
	}
}

// chunkSums returns the SHA-256 of each chunk of data.
func chunkSums(k *cutter, data []byte) [][32]byte {
	var out [][32]byte
	for _, n := range cutAll(k, data, (*cutter).cut) {
		out = append(out, sha256.Sum256(data[:n]))
		data = data[n:]
	}
	return out
}

// TestInsertion inserts one byte in the middle of 64 MiB (and at a few other
// places) and checks that at most two chunks change: boundaries of the
// unchanged regions do not move.
func TestInsertion(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	data := randBytes(0x1a5e47, size)
	k := newCutter(DefaultConfig())
	before := chunkSums(k, data)
	old := make(map[[32]byte]bool, len(before))
	for _, s := range before {
		old[s] = true
	}
	for _, at := range []int{size / 2, size / 3, 100, size - 100} {
		edited := slices.Concat(data[:at], []byte{0x42}, data[at:])
		after := chunkSums(k, edited)
		changed := 0
		for _, s := range after {
			if !old[s] {
				changed++
			}
		}
		if changed == 0 || changed > 2 {
			t.Errorf("insert at %d: %d of %d chunks changed, want 1 or 2", at, changed, len(after))
		}
		if d := len(after) - len(before); d < -1 || d > 1 {
			t.Errorf("insert at %d: chunk count went from %d to %d", at, len(before), len(after))
		}
	}
}
