package index

import (
	"fmt"
	"sync"
	"testing"
)

// TestCountsMatchPass: after every kind of change (new files, a pull,
// edits, a conflict, deletions, a read-only peer's edit, a forgotten
// local state, an index opened again, more changes than a fold takes)
// the counts the index keeps equal a pass over every record.
func TestCountsMatchPass(t *testing.T) {
	a, b, ro := newPeer(t, 1, true), newPeer(t, 2, true), newPeer(t, 3, false)
	check := func(step string, ps ...peer) {
		t.Helper()
		for _, p := range ps {
			sameCounts(t, fmt.Sprintf("%s, device %d", step, p.dev), p.ix)
		}
	}
	del := func(p peer, path string, mtime int64) {
		t.Helper()
		_, err := p.ix.CommitLocal(ctx, []Change{{Record: Record{Path: path, Type: TypeFile, Deleted: true, ModTime: mtime}, Local: Local{Type: TypeFile, Deleted: true}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	a.write(t, "f1", "one", 10)
	a.write(t, "f2", "two two", 10)
	if _, err := a.ix.CommitLocal(ctx, []Change{
		{Record: Record{Path: "d", Type: TypeDir, Mode: 0o755, ModTime: 10}, Local: Local{Type: TypeDir}},
		{Record: Record{Path: "d/l", Type: TypeSymlink, Target: "../f1", ModTime: 10}, Local: Local{Type: TypeSymlink, Target: "../f1"}},
	}); err != nil {
		t.Fatal(err)
	}
	check("written", a)
	exchange(t, a, b)
	exchange(t, a, ro)
	check("learnt", b, ro)
	if st, _ := b.ix.Stats(ctx); st.NeedFiles != 4 || st.Files != 2 || st.Bytes != 10 || st.Dirs != 1 || st.Links != 1 {
		t.Fatalf("b's stats before its pull: %+v", st)
	}
	b.pulled(t, "f1")
	b.pulled(t, "d")
	check("pulled", b)
	a.write(t, "f1", "one, edited", 20)
	b.write(t, "f1", "one, edited on b too", 21) // concurrent: b wins
	exchange(t, a, b)
	exchange(t, b, a)
	check("conflict", a, b)
	del(a, "f2", 30)
	exchange(t, a, b)
	check("deleted", a, b)
	exchange(t, a, ro)
	ro.write(t, "f1", "mine", 40) // read-only: a local change
	ro.write(t, "new", "only here", 40)
	check("read-only edits", ro)
	if st, _ := ro.ix.Stats(ctx); st.LocalChanged != 2 {
		t.Fatalf("read-only stats: %+v", st)
	}
	if err := ro.ix.ForgetLocal(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	check("forgotten", ro)
	for i := range foldEvery + 100 { // past a fold
		a.write(t, fmt.Sprintf("many/%04d", i), fmt.Sprint(i), 50)
	}
	check("many", a)
	// Opened again, as a restarted daemon does: the counts carry over.
	again, err := Open(a.ix.opt)
	if err != nil {
		t.Fatal(err)
	}
	re := peer{again, a.dev}
	check("reopened", re)
	re.write(t, "after", "reopen", 60)
	check("reopened and written", re)
}

// TestCountsOfOlderIndex: an index written before counts were kept is
// counted whole when it is opened.
func TestCountsOfOlderIndex(t *testing.T) {
	a := newPeer(t, 1, true)
	for i := range 10 {
		a.write(t, fmt.Sprintf("f%d", i), fmt.Sprint(i), 10)
	}
	ctx := t.Context()
	// What an older shoal left: no counts at all.
	var keys [][]byte
	if err := a.ix.opt.KV.Iterate(ctx, []byte{pCount}, func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := a.ix.opt.KV.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := Open(a.ix.opt)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ix.Stats(ctx)
	if err != nil || st.Files != 10 || st.Bytes != 10 {
		t.Fatalf("stats of an older index: %+v, %v", st, err)
	}
}

func TestCountsEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"zero", counts{}.encode(), true},
		{"values", counts{files: 3, bytes: 1 << 40, needFiles: -2, localChanged: 7}.encode(), true},
		{"empty", nil, false},
		{"short", counts{files: 3}.encode()[:5], false},
		{"trailing", append(counts{}.encode(), 0), false},
		{"bad varint", []byte{0x80, 0x80}, false},
	}
	for _, tt := range tests {
		c, err := decodeCounts(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s: decode %x: %+v, %v", tt.name, tt.in, c, err)
		}
		if err == nil && string(c.encode()) != string(tt.in) {
			t.Errorf("%s: %x came back as %x", tt.name, tt.in, c.encode())
		}
	}
}

// TestCountsUnderConcurrency: changes of the same paths from many
// goroutines at once (local edits, pulls, deletions, remote records)
// leave counts that equal a pass: a transaction whose reads another
// changed is run again, its delta with it.
func TestCountsUnderConcurrency(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, true)
	for i := range 40 {
		a.write(t, fmt.Sprintf("p%02d", i), "first", 1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 60 {
				p := fmt.Sprintf("p%02d", (i*7+w)%40)
				var err error
				switch i % 4 {
				case 0, 1:
					r := fileRecord(p, []byte(fmt.Sprint(w, i)))
					r.ModTime = int64(10 + i)
					_, err = b.ix.CommitLocal(ctx, []Change{{Record: r, Local: Local{Type: TypeFile, Size: r.Size, Root: r.Root, ModTime: r.ModTime}}})
				case 2:
					if g, gerr := b.ix.Global(ctx, p); gerr == nil && g != nil {
						err = b.ix.SetLocal(ctx, p, &Local{Type: g.Type, Size: g.Size, Root: g.Root, Version: g.Version}, nil)
					}
				case 3:
					_, err = b.ix.CommitLocal(ctx, []Change{{Record: Record{Path: p, Type: TypeFile, Deleted: true, ModTime: int64(100 + i)}, Local: Local{Type: TypeFile, Deleted: true}}})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			marks, err := b.ix.Marks(ctx)
			if err != nil {
				errs <- err
				return
			}
			var recs []Signed
			complete, err := a.ix.Since(ctx, marks, func(s Signed) error { recs = append(recs, s); return nil })
			if err == nil {
				_, _, err = b.ix.ApplyRemote(ctx, recs, complete, nil)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sameCounts(t, "after the changes", b.ix)
}

// sameCounts fails unless the counts ix keeps equal a pass over it.
func sameCounts(t *testing.T, what string, ix *Index) {
	t.Helper()
	got, err := ix.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.countAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.stats(); got != want {
		t.Fatalf("%s: kept counts %+v, a pass counts %+v", what, got, want)
	}
}
