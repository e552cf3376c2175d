package index

import (
	"fmt"
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
			got, err := p.ix.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.ix.countAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.stats(); got != want {
				t.Fatalf("%s, device %d: kept counts %+v, a pass counts %+v", step, p.dev, got, want)
			}
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
