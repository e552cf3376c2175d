package strategy

import "math/bits"

// bitset is a growable set of small non-negative integers (block sequence
// numbers).
type bitset []uint64

func (s *bitset) set(i int) {
	w := i >> 6
	for len(*s) <= w {
		*s = append(*s, 0)
	}
	(*s)[w] |= 1 << (uint(i) & 63)
}

func (s bitset) clear(i int) {
	if w := i >> 6; w < len(s) {
		s[w] &^= 1 << (uint(i) & 63)
	}
}

func (s bitset) has(i int) bool {
	w := i >> 6
	return w < len(s) && s[w]&(1<<(uint(i)&63)) != 0
}

// scanAnd calls fn for every integer in both s and t, in increasing order,
// until fn returns false.
func (s bitset) scanAnd(t bitset, fn func(i int) bool) {
	n := min(len(s), len(t))
	for w := 0; w < n; w++ {
		x := s[w] & t[w]
		for x != 0 {
			b := bits.TrailingZeros64(x)
			if !fn(w<<6 | b) {
				return
			}
			x &= x - 1
		}
	}
}

// empty reports whether s holds nothing.
func (s bitset) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls fn for every integer in s, in increasing order.
func (s bitset) each(fn func(i int)) {
	for w, x := range s {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			fn(w<<6 | b)
			x &= x - 1
		}
	}
}
