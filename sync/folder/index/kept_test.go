package index

import (
	"fmt"
	"testing"
	"time"
)

func TestRetentionOfHistory(t *testing.T) {
	a := newPeer(t, 1, true)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day := int64(24 * time.Hour)
	a.ix.SetRetention(3, 0)
	for i := range 8 {
		a.write(t, "f", fmt.Sprint("v", i), base.UnixNano()+int64(i)*day)
	}
	vs, err := a.ix.History(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 4 || vs[0].ModTime != base.UnixNano()+4*day {
		t.Fatalf("kept %d versions (3 superseded and the current one wanted), oldest %v", len(vs), vs[0].Time())
	}
	// Age: versions superseded more than 2 days before now go; count
	// shrunk to 2 drops one more.
	a.ix.SetRetention(2, 2*24*time.Hour)
	now := base.Add(8*24*time.Hour + time.Hour) // the current version is 1 d 1 h old
	n, err := a.ix.PruneHistory(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ = a.ix.History(ctx, "f")
	// Superseded at day 5, 6, 7 (the next version's time): with 2 kept,
	// day 4's record goes by count; day 5's (superseded at day 6, 2 d 1 h
	// ago) by age.
	if n != 2 || len(vs) != 2 || vs[0].ModTime != base.UnixNano()+6*day {
		t.Fatalf("pruned %d, %d left: %v", n, len(vs), vs)
	}
	// A peer that learns the folder gets only what is kept.
	b := newPeer(t, 2, true)
	exchange(t, a, b)
	if got, _ := b.ix.History(ctx, "f"); len(got) != 2 {
		t.Fatalf("the peer learnt %d versions, want 2", len(got))
	}
}

func TestKeptVersionsAreRoots(t *testing.T) {
	a := newPeer(t, 1, true)
	a.write(t, "f", "one", 1)
	old := fileRecord("f", []byte("one"))
	a.write(t, "f", "two", 2)
	k := Kept{Path: "f", Root: old.Root, Size: 3, At: 5, File: "f~x"}
	if err := a.ix.PutKept(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := a.ix.PutKept(ctx, Kept{Path: "g", Root: old.Root, At: 6}); err != nil {
		t.Fatal(err)
	}
	roots, err := a.ix.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range roots {
		found = found || c.Equals(k.Cid())
	}
	if !found {
		t.Fatal("a kept version's root is not among the roots GC keeps")
	}
	var got []Kept
	a.ix.KeptVersions(ctx, "f", false, func(k Kept) error { got = append(got, k); return nil })
	if len(got) != 1 || got[0].File != k.File || got[0].Size != 3 || !got[0].Cid().Equals(k.Cid()) {
		t.Fatalf("kept of f: %+v", got)
	}
	if err := a.ix.DeleteKept(ctx, k); err != nil {
		t.Fatal(err)
	}
	got = nil
	a.ix.KeptVersions(ctx, "", true, func(k Kept) error { got = append(got, k); return nil })
	if len(got) != 1 || got[0].Path != "g" {
		t.Fatalf("after delete: %+v", got)
	}
}
