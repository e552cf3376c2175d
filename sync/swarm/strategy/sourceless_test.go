package strategy

import (
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestSourceless: blocks no peer has, and none requested, are the ones to
// ask about again, in DAG order and at most n.
func TestSourceless(t *testing.T) {
	p := NewPicker(PickerConfig{})
	a := testPeer("A")
	p.AddPeer(a)
	for i := range 4 {
		p.Want(testBlock(i), 100)
	}
	p.Have(a, testBlock(1))
	tests := []struct {
		n    int
		want []cid.Cid
	}{
		{0, nil},
		{2, []cid.Cid{testBlock(0), testBlock(2)}},
		{10, []cid.Cid{testBlock(0), testBlock(2), testBlock(3)}},
	}
	for _, tc := range tests {
		if got := p.Sourceless(tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Sourceless(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	p.DontHave(a, testBlock(1)) // it no longer has it: sourceless again
	p.Unwant(testBlock(3))      // given up: not asked about
	if got, want := p.Sourceless(10), []cid.Cid{testBlock(0), testBlock(1), testBlock(2)}; !slices.Equal(got, want) {
		t.Errorf("after don't-have and unwant: %v, want %v", got, want)
	}
}
