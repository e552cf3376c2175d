package chunker

import "math/bits"

// cutter finds chunk boundaries. It is built once per stream from a valid
// Config and holds no stream state: cut looks only at the bytes it is given.
type cutter struct {
	fixed         bool
	size          int // Fixed chunk size
	min, avg, max int
	// maskS is tested before avg bytes (more bits: cuts are rarer), maskL
	// after (fewer bits: cuts are likelier); that is normalized chunking.
	// maskSLS and maskLLS are the same masks shifted left by one, tested
	// against the hash shifted left by one in the two-bytes-a-step loop.
	maskS, maskL, maskSLS, maskLLS uint64
	gear                           [256]uint64
	gearLS                         [256]uint64 // gear << 1
}

// normLevel is the FastCDC normalization level: maskS has log2(avg)+2 bits,
// maskL log2(avg)-2.
const normLevel = 2

// newCutter returns the cutter of c, which must be valid.
func newCutter(c Config) *cutter {
	c = c.withDefaults()
	if c.Kind == Fixed {
		return &cutter{fixed: true, size: c.Size, max: c.Size}
	}
	k := &cutter{min: c.Min, avg: c.Avg, max: c.Max}
	b := avgBits(c.Avg)
	k.maskS = highMask(b + normLevel)
	k.maskL = highMask(b - normLevel)
	k.maskSLS = k.maskS << 1
	k.maskLLS = k.maskL << 1
	for i, g := range gear {
		k.gear[i] = g
		k.gearLS[i] = g << 1
	}
	return k
}

// avgBits returns log2(avg) rounded to the nearest integer.
func avgBits(avg int) int {
	b := bits.Len(uint(avg)) - 1
	if avg-1<<b > 1<<(b+1)-avg {
		b++
	}
	return b
}

// highMask returns a mask of n bits ending at bit 62. High bits of the gear
// hash depend on the last ~50-63 bytes, so a boundary depends on a window of
// content; bit 63 is left out so that mask<<1 loses nothing.
func highMask(n int) uint64 {
	return (1<<uint(n) - 1) << uint(63-n)
}

// minSize returns the shortest chunk but the last.
func (k *cutter) minSize() int {
	if k.fixed {
		return k.size
	}
	return k.min
}

// cut returns the length of the next chunk at the start of b. b holds the
// rest of the stream or at least max bytes of it; a cut shorter than
// min(len(b), max) is content-defined and so does not depend on what
// follows.
func (k *cutter) cut(b []byte) int {
	n := len(b)
	if k.fixed {
		return min(n, k.size)
	}
	if n <= k.min {
		return n
	}
	n = min(n, k.max)
	normal := min(k.avg, n)

	// FastCDC 2020: roll two bytes a step. After fp = fp<<2 + gearLS[x],
	// fp is the one-byte hash after x shifted left by one, tested with the
	// shifted mask; adding gear[y] then gives the one-byte hash after y.
	var fp uint64
	g, gls := &k.gear, &k.gearLS
	s := b[k.min:normal]
	mS, mSLS := k.maskS, k.maskSLS
	j := 0
	for ; j < len(s)-1; j += 2 {
		fp = fp<<2 + gls[s[j]]
		if fp&mSLS == 0 {
			return k.min + j + 1
		}
		fp += g[s[j+1]]
		if fp&mS == 0 {
			return k.min + j + 2
		}
	}
	if j < len(s) { // one byte left
		fp = fp<<1 + g[s[j]]
		if fp&mS == 0 {
			return normal
		}
	}

	s = b[normal:n]
	mL, mLLS := k.maskL, k.maskLLS
	for j = 0; j < len(s)-1; j += 2 {
		fp = fp<<2 + gls[s[j]]
		if fp&mLLS == 0 {
			return normal + j + 1
		}
		fp += g[s[j+1]]
		if fp&mL == 0 {
			return normal + j + 2
		}
	}
	return n
}
