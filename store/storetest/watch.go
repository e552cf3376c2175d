package storetest

import (
	"testing"

	"github.com/shoal-sync/shoal/store"
)

// testWatchPins: every committed change of the pins (Pin, Unpin, a batch
// with pins) grows the generation and closes the channel a watcher took
// before it, and every committed batch of blocks grows Writes.
func testWatchPins(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := rawBlock("watch a", 100)
	changes := []struct {
		name   string
		change func() error
	}{
		{"pin", func() error { return s.Pin(ctx, a.c, store.PinDirect) }},
		{"unpin", func() error { return s.Unpin(ctx, a.c) }},
		{"batch pin", func() error {
			b := s.NewBatch(ctx)
			defer b.Discard()
			if err := b.Put(a.c, a.data); err != nil {
				return err
			}
			if err := b.Pin(a.c, store.PinRecursive); err != nil {
				return err
			}
			return b.Commit()
		}},
	}
	for _, ch := range changes {
		before := s.WatchPins()
		if err := ch.change(); err != nil {
			t.Fatalf("%s: %v", ch.name, err)
		}
		if gen, _ := s.PinGen(); gen <= before.Gen {
			t.Errorf("%s: generation %d, was %d", ch.name, gen, before.Gen)
		}
		select {
		case <-before.Changed:
		default:
			t.Errorf("%s: watcher not woken", ch.name)
		}
	}
	before := s.WatchPins()
	b := s.NewBatch(ctx)
	blk := rawBlock("watch b", 3000)
	if err := b.Put(blk.c, blk.data); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	gen, writes := s.PinGen()
	if writes <= before.Writes {
		t.Errorf("writes %d after a batch, was %d", writes, before.Writes)
	}
	if gen != before.Gen {
		t.Errorf("a batch without pins changed the generation %d -> %d", before.Gen, gen)
	}
	select {
	case <-before.Changed:
		t.Error("a batch without pins woke the watcher")
	default:
	}
}
