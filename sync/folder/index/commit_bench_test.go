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
