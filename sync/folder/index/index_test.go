package index

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/identity"
)

var ctx = context.Background()

func TestVectorCompare(t *testing.T) {
	v := func(kv ...uint64) Vector {
		var out Vector
		for i := 0; i < len(kv); i += 2 {
			out = append(out, Counter{ID: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		a, b Vector
		want Ordering
	}{
		{nil, nil, Equal},
		{v(1, 1), v(1, 1), Equal},
		{v(1, 2), v(1, 1), Greater},
		{v(1, 1), v(1, 2), Lesser},
		{v(1, 1, 2, 1), v(1, 1), Greater},
		{v(1, 1), v(2, 1), Concurrent},
		{v(1, 2, 2, 1), v(1, 1, 2, 2), Concurrent},
		{v(3, 1), nil, Greater},
		{nil, v(3, 1), Lesser},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if m := tt.a.Merge(tt.b); m.Compare(tt.a) == Lesser || m.Compare(tt.b) == Lesser || !m.valid() {
			t.Errorf("Merge(%v, %v) = %v does not dominate both", tt.a, tt.b, m)
		}
	}
	u := v(1, 1, 5, 2).Update(3).Update(5)
	if want := v(1, 1, 3, 1, 5, 3); u.Compare(want) != Equal || len(u) != 3 {
		t.Errorf("Update = %v, want %v", u, want)
	}
}

func TestValidatePath(t *testing.T) {
	good := []string{"a", "a/b/c.txt", "ünïcödé/ok", ".shoalignore", "x/.shoal", ".shoalx/y", "a b/c"}
	bad := []string{"", "/abs", "a//b", "a/./b", "../x", "a/..", "a/", "a\\b", "nul\x00", ".shoal", ".shoal/x",
		"e\u0301" /* not NFC */, string([]byte{0xff}), string(bytes.Repeat([]byte("a"), MaxPathLen+1))}
	for _, p := range good {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v", p, err)
		}
	}
	for _, p := range bad {
		if err := ValidatePath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("ValidatePath(%q) = %v, want ErrBadPath", p, err)
		}
	}
}

// testKey is a fixed folder key, so encodings are golden.
func testKey() identity.FolderKey {
	var rw identity.RWKey
	for i := range rw {
		rw[i] = byte(i)
	}
	return identity.FolderKeyFromRW(rw)
}

func fileRecord(path string, data []byte) Record {
	return Record{Path: path, Type: TypeFile, Size: int64(len(data)), Mode: 0o644, ModTime: 1_700_000_000_000_000_000,
		Root: unixfs.RawCIDOf(data).Bytes()}
}

func TestSignedRecordGolden(t *testing.T) {
	k := testKey()
	rw, _ := k.RW()
	r := fileRecord("docs/a.txt", []byte("hello"))
	r.Version, r.Origin, r.Seq = Vector{{ID: 7, Value: 1}}, 7, 1
	s, err := Sign(&r, k.ID(), rw.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	// The encoding is part of the protocol and of the store: it must not change.
	const golden = "a9016a646f63732f612e74787402010305041901a4051b17979cfe362a000006582401551220" +
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982408818207010a070b01"
	if got := hex.EncodeToString(s.Data); got != golden {
		t.Errorf("record encodes as\n%s\nwant\n%s", got, golden)
	}
	got, err := s.Open(k.ID(), k.SigningPublicKey())
	if err != nil || got.Path != r.Path || got.Cid() != r.Cid() || got.Version.Compare(r.Version) != Equal {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// Tampering, another folder, a wrong key: refused.
	var other identity.FolderID
	tampered := Signed{Data: bytes.Clone(s.Data), Sig: s.Sig}
	tampered.Data[3] ^= 1
	pub2, _, _ := ed25519.GenerateKey(nil)
	for name, f := range map[string]func() error{
		"tampered":     func() error { _, err := tampered.Open(k.ID(), k.SigningPublicKey()); return err },
		"other folder": func() error { _, err := s.Open(other, k.SigningPublicKey()); return err },
		"wrong key":    func() error { _, err := s.Open(k.ID(), pub2); return err },
		"short sig": func() error {
			_, err := Signed{Data: s.Data, Sig: s.Sig[:10]}.Open(k.ID(), k.SigningPublicKey())
			return err
		},
	} {
		if err := f(); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrBadRecord", name, err)
		}
	}
}

func TestRecordCheck(t *testing.T) {
	base := fileRecord("a", []byte("x"))
	base.Version, base.Origin, base.Seq = Vector{{ID: 1, Value: 1}}, 1, 1
	tests := []struct {
		name string
		mod  func(r *Record)
	}{
		{"bad path", func(r *Record) { r.Path = "../etc/passwd" }},
		{"into .shoal", func(r *Record) { r.Path = ".shoal/marker" }},
		{"no version", func(r *Record) { r.Version = nil }},
		{"unsorted version", func(r *Record) { r.Version = Vector{{ID: 2, Value: 1}, {ID: 1, Value: 1}} }},
		{"zero counter", func(r *Record) { r.Version = Vector{{ID: 2}} }},
		{"seq 0", func(r *Record) { r.Seq = 0 }},
		{"bad type", func(r *Record) { r.Type = 9 }},
		{"file without CID", func(r *Record) { r.Root = []byte{1, 2} }},
		{"dir with content", func(r *Record) { r.Type = TypeDir }},
		{"negative size", func(r *Record) { r.Size = -1 }},
	}
	if err := base.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		r := base
		tt.mod(&r)
		if err := r.Check(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// peer is one device's index of the same folder.
type peer struct {
	ix  *Index
	dev uint64
}

func newPeer(t testing.TB, dev uint64, writable bool) peer {
	t.Helper()
	s, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k := testKey()
	opt := Options{KV: s.KV("folder"), Folder: k.ID(), Pub: k.SigningPublicKey(), Device: dev,
		Wins: func(a, b *Record) bool {
			if a.ModTime != b.ModTime {
				return a.ModTime > b.ModTime
			}
			return a.Origin > b.Origin
		}}
	if writable {
		rw, _ := k.RW()
		opt.Key = rw.SigningKey()
	}
	ix, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	return peer{ix, dev}
}

func (p peer) write(t *testing.T, path, content string, mtime int64) []Signed {
	t.Helper()
	r := fileRecord(path, []byte(content))
	r.ModTime = mtime
	out, err := p.ix.CommitLocal(ctx, []Change{{Record: r, Local: Local{Type: TypeFile, Size: r.Size, Root: r.Root, ModTime: mtime}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pulled records that p's disk now holds path's global version, as a
// pull would.
func (p peer) pulled(t *testing.T, path string) {
	t.Helper()
	g, err := p.ix.Global(ctx, path)
	if err != nil || g == nil {
		t.Fatalf("no global record of %s: %v", path, err)
	}
	if err := p.ix.SetLocal(ctx, path, &Local{Type: g.Type, Size: g.Size, Root: g.Root, Version: g.Version}, nil); err != nil {
		t.Fatal(err)
	}
}

// exchange runs one anti-entropy round: to learns from from everything it lacks.
func exchange(t *testing.T, from, to peer) []Applied {
	t.Helper()
	marks, err := to.ix.Marks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Signed
	complete, err := from.ix.Since(ctx, marks, func(s Signed) error { recs = append(recs, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	applied, bad, err := to.ix.ApplyRemote(ctx, recs, complete, nil)
	if err != nil || bad != 0 {
		t.Fatalf("ApplyRemote: %v, %d bad", err, bad)
	}
	return applied
}

func needPaths(t *testing.T, p peer) []string {
	t.Helper()
	var out []string
	if err := p.ix.Needs(ctx, func(g *Record, _ *Local) error { out = append(out, g.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGossipThroughRelay(t *testing.T) {
	a, b, c := newPeer(t, 1, true), newPeer(t, 2, false), newPeer(t, 3, true)
	a.write(t, "x", "one", 10)
	a.write(t, "y", "two", 10)
	a.write(t, "x", "three", 20) // supersedes a's seq 1
	// Superseded records travel too (history): x's first version, y, x's second.
	if got := exchange(t, a, b); len(got) != 3 {
		t.Fatalf("b applied %d records, want 3", len(got))
	}
	// c never meets a: it learns through the read-only b, signatures intact.
	if got := exchange(t, b, c); len(got) != 3 {
		t.Fatalf("c applied %d records, want 3", len(got))
	}
	if h, err := c.ix.History(ctx, "x"); err != nil || len(h) != 2 || h[0].Size != 3 || h[1].Size != 5 {
		t.Fatalf("c's history of x: %v, %v", h, err)
	}
	if got := needPaths(t, c); len(got) != 2 {
		t.Fatalf("c needs %v", got)
	}
	x, _ := c.ix.Global(ctx, "x")
	if x == nil || x.Size != 5 || x.Origin != 1 || x.Seq != 3 {
		t.Fatalf("c's x = %+v", x)
	}
	// Nothing more flows on a second round.
	if got := exchange(t, a, c); len(got) != 0 {
		t.Fatalf("second round applied %d", len(got))
	}
	// c edits x (having pulled it); a learns of it and its version dominates a's.
	c.pulled(t, "x")
	c.write(t, "x", "four", 30)
	applied := exchange(t, c, a)
	if len(applied) != 1 || applied[0].Conflict || applied[0].Replaced == nil {
		t.Fatalf("a applied %+v", applied)
	}
	// A forged record (signed with another key) is rejected and changes nothing.
	_, priv, _ := ed25519.GenerateKey(nil)
	r := fileRecord("evil", []byte("x"))
	r.Version, r.Origin, r.Seq = Vector{{ID: 9, Value: 1}}, 9, 1
	forged, _ := Sign(&r, testKey().ID(), priv)
	applied, bad, err := a.ix.ApplyRemote(ctx, []Signed{forged}, nil, nil)
	if err != nil || bad != 1 || len(applied) != 0 {
		t.Fatalf("forged: %v, %d bad, %d applied", err, bad, len(applied))
	}
	if g, _ := a.ix.Global(ctx, "evil"); g != nil {
		t.Fatal("forged record stored")
	}
}

func TestConcurrentEditsConverge(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, true)
	a.write(t, "f", "base", 10)
	exchange(t, a, b)
	b.pulled(t, "f")
	a.write(t, "f", "from a", 20)
	b.write(t, "f", "from b", 30) // newer mtime: wins everywhere
	ab := exchange(t, a, b)
	ba := exchange(t, b, a)
	if len(ab) != 0 {
		t.Fatalf("b took a's losing record: %+v", ab)
	}
	if len(ba) != 1 || !ba[0].Conflict {
		t.Fatalf("a applied %+v, want one conflict", ba)
	}
	ga, _ := a.ix.Global(ctx, "f")
	gb, _ := b.ix.Global(ctx, "f")
	if ga.Origin != 2 || gb.Origin != 2 || ga.Version.Compare(gb.Version) != Equal {
		t.Fatalf("globals differ: a %+v, b %+v", ga, gb)
	}
	// a holds the loser on disk: it needs the winner.
	if got := needPaths(t, a); len(got) != 1 {
		t.Fatalf("a needs %v", got)
	}
	if got := needPaths(t, b); len(got) != 0 {
		t.Fatalf("b needs %v", got)
	}
}

// A file already on a joining machine's disk, never synced there, is
// concurrent with the folder's version of it: a conflict, not an overwrite.
func TestUnsyncedLocalFileIsConcurrent(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, true)
	a.write(t, "f", "a's", 10)
	exchange(t, a, b) // b learns a's record before its first scan
	b.write(t, "f", "b's own file", 5)
	g, _ := b.ix.Global(ctx, "f")
	if g.Origin != 1 {
		t.Fatalf("b's unsynced file replaced a's version without a conflict: %+v", g)
	}
	applied := exchange(t, b, a)
	if len(applied) != 0 {
		t.Fatalf("a took b's losing record as newer: %+v", applied)
	}
}

func TestReadOnlyKeepsLocalChanges(t *testing.T) {
	a, b := newPeer(t, 1, true), newPeer(t, 2, false)
	a.write(t, "f", "one", 10)
	exchange(t, a, b)
	if out := b.write(t, "f", "mine", 20); len(out) != 0 {
		t.Fatalf("read-only peer published %d records", len(out))
	}
	st, err := b.ix.Stats(ctx)
	if err != nil || st.LocalChanged != 1 || st.NeedFiles != 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if g, _ := b.ix.Global(ctx, "f"); g.Origin != 1 {
		t.Fatalf("read-only edit became global: %+v", g)
	}
}

// TestSetLocalLargeFile records a pulled file of 40,000 blocks (a few GiB
// of chunks): more than one badger transaction holds, yet every block is
// listed and the local state stored.
func TestSetLocalLargeFile(t *testing.T) {
	p := newPeer(t, 1, true)
	blocks := make([]cid.Cid, 40000)
	for i := range blocks {
		blocks[i] = unixfs.RawCIDOf(binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	l := &Local{Type: TypeFile, Size: 1 << 32, Root: blocks[0].Bytes()}
	if err := p.ix.SetLocal(ctx, "big.bin", l, blocks); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 20000, len(blocks) - 1} {
		if !p.ix.HasBlock(ctx, blocks[i].Hash()) {
			t.Errorf("block %d not listed", i)
		}
	}
	if got, err := p.ix.Local(ctx, "big.bin"); err != nil || got == nil || got.Size != l.Size {
		t.Fatalf("local state: %+v, %v", got, err)
	}
}

func TestSetLocals(t *testing.T) {
	p := newPeer(t, 1, true)
	big := make([]cid.Cid, maxTxnBlocks) // more than one transaction holds beside others
	for i := range big {
		big[i] = unixfs.RawCIDOf(binary.BigEndian.AppendUint64([]byte("big"), uint64(i)))
	}
	var changes []LocalChange
	for i := range 300 {
		c := unixfs.RawCIDOf(binary.BigEndian.AppendUint64(nil, uint64(i)))
		changes = append(changes, LocalChange{Path: fmt.Sprintf("d/f%03d", i), Local: &Local{Type: TypeFile, Size: int64(i), Root: c.Bytes()}, Blocks: []cid.Cid{c}})
		if i == 150 {
			changes = append(changes, LocalChange{Path: "big.bin", Local: &Local{Type: TypeFile, Size: 1 << 32, Root: big[0].Bytes()}, Blocks: big})
		}
	}
	if err := p.ix.SetLocals(ctx, changes); err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		got, err := p.ix.Local(ctx, c.Path)
		if err != nil || got == nil || got.Size != c.Local.Size || !bytes.Equal(got.Root, c.Local.Root) {
			t.Fatalf("%s: local state %+v, %v", c.Path, got, err)
		}
		for _, b := range []cid.Cid{c.Blocks[0], c.Blocks[len(c.Blocks)-1]} {
			if !p.ix.HasBlock(ctx, b.Hash()) {
				t.Fatalf("%s: block %s not listed", c.Path, b)
			}
		}
	}
}

// TestApplyRemoteLargeBatch: a batch large enough to be checked on every
// core is applied whole, in order, and its forged records (spread through
// it) are each rejected, exactly as one at a time.
func TestApplyRemoteLargeBatch(t *testing.T) {
	ctx := context.Background()
	k := testKey()
	rw, _ := k.RW()
	_, priv, _ := ed25519.GenerateKey(nil)
	a := newPeer(t, 1, true)
	var in []Signed
	forged := map[string]bool{}
	for i := range 500 {
		path := fmt.Sprintf("d/%03d", i)
		r := fileRecord(path, []byte(path))
		r.Version, r.Origin, r.Seq = Vector{{ID: 9, Value: uint64(i + 1)}}, 9, uint64(i+1)
		key := rw.SigningKey()
		if i%37 == 5 {
			key, forged[path] = priv, true
		}
		s, err := Sign(&r, k.ID(), key)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, s)
	}
	applied, bad, err := a.ix.ApplyRemote(ctx, in, nil, nil)
	if err != nil || bad != len(forged) || len(applied) != len(in)-len(forged) {
		t.Fatalf("%v, %d bad (want %d), %d applied", err, bad, len(forged), len(applied))
	}
	prev := ""
	for _, ap := range applied {
		if forged[ap.Record.Path] || ap.Record.Path <= prev {
			t.Fatalf("applied %s after %s", ap.Record.Path, prev)
		}
		prev = ap.Record.Path
	}
	for p := range forged {
		if g, _ := a.ix.Global(ctx, p); g != nil {
			t.Fatalf("forged %s stored", p)
		}
	}
}

// TestHeldRecords: a record held byte for byte as its path's global
// record is known as held (its check can be skipped); a new record, an
// older version of a path, and a held record under another signature are
// not.
func TestHeldRecords(t *testing.T) {
	a := newPeer(t, 1, true)
	b := newPeer(t, 2, true)
	old := a.write(t, "x", "one", 1)
	recs := append(old, a.write(t, "x", "two", 2)...)
	recs = append(recs, a.write(t, "y", "three", 3)...)
	if _, bad, err := b.ix.ApplyRemote(ctx, recs, nil, nil); err != nil || bad != 0 {
		t.Fatalf("ApplyRemote: %v, %d bad", err, bad)
	}
	fresh := a.write(t, "z", "four", 4)
	resigned := Signed{Data: recs[2].Data, Sig: append([]byte{recs[2].Sig[0] ^ 1}, recs[2].Sig[1:]...)}
	in := []Signed{recs[1], recs[2], old[0], fresh[0], resigned}
	rs, _ := decodeAll(in)
	dup, err := b.ix.held(ctx, in, rs)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false, false, false}
	for i := range want {
		if dup == nil || dup[i] != want[i] {
			t.Fatalf("held %v, want %v", dup, want)
		}
	}
	// Applying them again: the held ones change nothing, the forged one
	// is still rejected, the new one is applied.
	applied, bad, err := b.ix.ApplyRemote(ctx, in, nil, nil)
	if err != nil || bad != 1 || len(applied) != 1 || applied[0].Record.Path != "z" {
		t.Fatalf("again: %v, %d bad, applied %v", err, bad, applied)
	}
}
