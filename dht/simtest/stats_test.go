package simtest

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

func TestDistOf(t *testing.T) {
	tests := []struct {
		in   []int
		want Dist[int]
	}{
		{nil, Dist[int]{}},
		{[]int{5}, Dist[int]{5, 5, 5}},
		{[]int{3, 1, 2}, Dist[int]{2, 3, 3}},
		{[]int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Dist[int]{5, 9, 10}},
	}
	for _, tt := range tests {
		if got := distOf(tt.in); got != tt.want {
			t.Errorf("distOf(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]nodeid.ID, 500)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(r.Uint32())
		}
	}
	for range 20 {
		target := ids[r.IntN(len(ids))]
		target[19] ^= 1
		exclude := ids[r.IntN(len(ids))]
		got := closest(ids, target, 8, exclude)
		// Reference: sort everything by distance.
		all := slices.DeleteFunc(slices.Clone(ids), func(id nodeid.ID) bool { return id == exclude })
		slices.SortFunc(all, func(a, b nodeid.ID) int { return nodeid.Cmp(target, a, b) })
		if !slices.Equal(got, all[:8]) {
			t.Fatalf("closest = %x, want %x", got, all[:8])
		}
		if !sameSet(got, slices.Concat(all[4:8], all[:4])) || sameSet(got, all[1:9]) {
			t.Fatal("sameSet disagrees with the reference")
		}
	}
}

// TestExactWith: a too-slow node may be returned in place of the farthest
// of the k closest, or left out; nothing else counts as exact.
func TestExactWith(t *testing.T) {
	id := func(b byte) nodeid.ID { var x nodeid.ID; x[19] = b; return x }
	ids := func(bs ...byte) []nodeid.ID {
		var out []nodeid.ID
		for _, b := range bs {
			out = append(out, id(b))
		}
		return out
	}
	best, slow := ids(1, 3, 5), ids(2)
	tests := []struct {
		name string
		got  []nodeid.ID
		want bool
	}{
		{"the k closest without the slow one", ids(1, 3, 5), true},
		{"the slow one in place of the farthest", ids(1, 2, 3), true},
		{"the slow one in place of a nearer one", ids(1, 2, 5), false},
		{"one short", ids(1, 3), false},
		{"a stranger", ids(1, 3, 7), false},
	}
	for _, tt := range tests {
		if got := exactWith(tt.got, best, slow, nodeid.ID{}, 3); got != tt.want {
			t.Errorf("%s: exactWith = %v, want %v", tt.name, got, tt.want)
		}
	}
}
