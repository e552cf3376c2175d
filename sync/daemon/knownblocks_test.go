package daemon

import (
	"fmt"
	"testing"
)

// TestKnownBlocks: a block added is known; once the set is full it starts
// again, so it never holds more than knownMax.
func TestKnownBlocks(t *testing.T) {
	var k knownBlocks
	if k.has([]byte("a")) {
		t.Fatal("an empty set knows a block")
	}
	k.add([]byte("a"))
	if !k.has([]byte("a")) || k.has([]byte("b")) {
		t.Fatal("the set does not hold exactly what was added")
	}
	for i := range knownMax + 10 {
		k.add(fmt.Appendf(nil, "block %d", i))
		if len(k.set) > knownMax {
			t.Fatalf("%d blocks held, at most %d allowed", len(k.set), knownMax)
		}
	}
	if k.has([]byte("a")) {
		t.Error("a block from before the set started again is still known")
	}
	if !k.has(fmt.Appendf(nil, "block %d", knownMax+9)) {
		t.Error("the last block added is not known")
	}
}
