package simtest

import (
	"cmp"
	"slices"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

// Dist summarises a sample: its median, 90th percentile and maximum.
type Dist[T cmp.Ordered] struct {
	Median, P90, Max T
}

// distOf returns the distribution of xs (the zero Dist when xs is empty).
// Percentiles are nearest-rank.
func distOf[T cmp.Ordered](xs []T) Dist[T] {
	if len(xs) == 0 {
		return Dist[T]{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) T {
		i := int(p*float64(len(s)) + 0.999999999) // ceil
		return s[min(max(i, 1), len(s))-1]
	}
	return Dist[T]{Median: rank(0.5), P90: rank(0.9), Max: s[len(s)-1]}
}

// closest returns the k IDs of ids nearest target by XOR distance, skipping
// exclude (the querier). ids is not modified.
func closest(ids []nodeid.ID, target nodeid.ID, k int, exclude nodeid.ID) []nodeid.ID {
	best := make([]nodeid.ID, 0, k+1)
	for _, id := range ids {
		if id == exclude {
			continue
		}
		if len(best) == k && nodeid.Cmp(target, id, best[k-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, id, func(a, b nodeid.ID) int { return nodeid.Cmp(target, a, b) })
		best = slices.Insert(best, i, id)
		if len(best) > k {
			best = best[:k]
		}
	}
	return best
}

// sameSet reports whether a and b hold the same IDs, in any order.
func sameSet(a, b []nodeid.ID) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[nodeid.ID]bool, len(a))
	for _, id := range a {
		set[id] = true
	}
	for _, id := range b {
		if !set[id] {
			return false
		}
	}
	return true
}
