package chunker

import (
	"encoding/binary"
	"runtime"
)

// randBytes returns n pseudo-random bytes from splitmix64 seeded with seed:
// the same bytes on every machine and Go version.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, (n+7)&^7)
	x := seed
	for i := 0; i < len(b); i += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		binary.LittleEndian.PutUint64(b[i:], z)
	}
	return b[:n]
}

// refCut is the textbook FastCDC cut (one byte a step, no tricks), the
// reference the fast cutter must agree with.
func refCut(k *cutter, b []byte) int {
	n := len(b)
	if k.fixed {
		return min(n, k.size)
	}
	if n <= k.min {
		return n
	}
	n = min(n, k.max)
	normal := min(k.avg, n)
	var fp uint64
	i := k.min
	for ; i < normal; i++ {
		fp = fp<<1 + gear[b[i]]
		if fp&k.maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		fp = fp<<1 + gear[b[i]]
		if fp&k.maskL == 0 {
			return i + 1
		}
	}
	return n
}

// cutAll returns the chunk lengths of data cut with k.
func cutAll(k *cutter, data []byte, cut func(*cutter, []byte) int) []int {
	var out []int
	for len(data) > 0 {
		n := cut(k, data)
		out = append(out, n)
		data = data[n:]
	}
	return out
}

// runtimeProcs is runtime.GOMAXPROCS(0).
func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
