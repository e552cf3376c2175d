package index

import (
	"fmt"
	"testing"
)

// BenchmarkCommitLocalOverExisting: a scan or restore committing 1,000
// changes of files the index holds already, each keeping its old record.
func BenchmarkCommitLocalOverExisting(b *testing.B) {
	p := newPeer(b, 1, true)
	mk := func(gen int) []Change {
		var cs []Change
		for i := range 1000 {
			r := fileRecord(fmt.Sprintf("d/f%04d", i), []byte(fmt.Sprint(gen, i)))
			r.ModTime = int64(gen + 1)
			cs = append(cs, Change{Record: r, Local: Local{Type: TypeFile, Size: r.Size, Root: r.Root, ModTime: int64(gen + 1)}})
		}
		return cs
	}
	if _, err := p.ix.CommitLocal(ctx, mk(0)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for n := range b.N {
		if _, err := p.ix.CommitLocal(ctx, mk(n+1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyRemoteTwice: 1,000 records a peer holds already arrive
// again (an answer and another peer's relay of it): held byte for byte,
// they are not checked again.
func BenchmarkApplyRemoteTwice(b *testing.B) {
	a := newPeer(b, 1, true)
	p := newPeer(b, 2, true)
	var cs []Change
	for i := range 1000 {
		r := fileRecord(fmt.Sprintf("d/f%04d", i), []byte(fmt.Sprint(i)))
		cs = append(cs, Change{Record: r, Local: Local{Type: TypeFile, Size: r.Size, Root: r.Root}})
	}
	recs, err := a.ix.CommitLocal(ctx, cs)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := p.ix.ApplyRemote(ctx, recs, nil, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, bad, err := p.ix.ApplyRemote(ctx, recs, nil, nil); err != nil || bad != 0 {
			b.Fatal(err, bad)
		}
	}
}
