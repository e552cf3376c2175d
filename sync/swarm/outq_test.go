package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/shoal-sync/shoal/sync/wire"
)

func testCid(t *testing.T, i int) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte{byte(i), byte(i >> 8)}, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// popKind pops q once the way the writer does (serves allowed, none
// uploaded) and names what came: "ctrl", "bulk", "serve" or "none"; a
// serve counts size bytes against the credit as if it were written.
func popKind(t *testing.T, q *outq, size int) string {
	t.Helper()
	it, ok, closed := q.pop(func(cid.Cid) uint32 { return 0 }, true)
	switch {
	case closed:
		return "closed"
	case !ok:
		return "none"
	case it.job != nil:
		q.finish(it.job)
		q.sent(size)
		return "serve"
	case it.m.kind == mExt:
		return "bulk"
	}
	return "ctrl"
}

// TestBulkTakesTurns: control messages go first; a bulk message goes at
// once when no block is asked for, and otherwise after each
// bulkQuantum bytes of blocks, so neither the blocks a peer waits for
// nor the stream waits for the other's end.
func TestBulkTakesTurns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serves int // queued first
		size   int // each serve's bytes
		bulk   int
		ctrl   int
		want   []string
	}{
		{"bulk alone goes at once", 0, 0, 2, 0, []string{"bulk", "bulk", "none"}},
		{"control first", 1, 1 << 20, 1, 1, []string{"ctrl", "bulk", "serve", "none"}},
		{"a quantum of blocks between bulk messages", 10, 1 << 20, 3, 0,
			[]string{"bulk", "serve", "serve", "serve", "serve", "bulk", "serve", "serve", "serve", "serve", "bulk", "serve", "serve", "none"}},
		{"small blocks: many per bulk message", 1030, 4 << 10, 2, 0,
			append(append(append([]string{"bulk"}, repeat("serve", 1024)...), "bulk"), append(repeat("serve", 6), "none")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newOutq()
			for i := range tc.serves {
				q.pushServes([]cid.Cid{testCid(t, i)})
			}
			for range tc.bulk {
				if err := q.pushBulk(t.Context(), nil, outItem{m: msg{kind: mExt, ext: wire.IndexRecords{}}}); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.ctrl {
				q.push(outItem{m: msg{kind: mPing}})
			}
			var got []string
			for range len(tc.want) {
				got = append(got, popKind(t, q, tc.size))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("popped %d, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("pop %d: %s, want %s (all: %v)", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestPushBulkWaits: past maxBulk queued a sender waits until the writer
// takes one, and stops waiting with an error when its context ends or
// the connection closes; nothing is queued after the close.
func TestPushBulkWaits(t *testing.T) {
	q := newOutq()
	item := outItem{m: msg{kind: mExt, ext: wire.IndexRecords{}}}
	for range maxBulk {
		if err := q.pushBulk(t.Context(), nil, item); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := q.pushBulk(ctx, nil, item); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a full queue took one more: %v", err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- q.pushBulk(t.Context(), nil, item) }()
	if k := popKind(t, q, 0); k != "bulk" {
		t.Fatalf("popped %s", k)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("the waiting sender: %v", err)
	}
	done := make(chan struct{})
	go func() { pushed <- q.pushBulk(t.Context(), done, item) }()
	close(done)
	if err := <-pushed; !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after the connection's end: %v", err)
	}
	q.close()
	if err := q.pushBulk(t.Context(), nil, item); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after close: %v", err)
	}
	if k := popKind(t, q, 0); k != "closed" {
		t.Fatalf("closed queue popped %s", k)
	}
}
