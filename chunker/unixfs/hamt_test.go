package unixfs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
)

// shardedDir builds a HAMT of n entries in m and returns its root.
func shardedDir(t testing.TB, m *memStore, n int) cid.Cid {
	t.Helper()
	var ents []DirEntry
	for i := range n {
		data := []byte(fmt.Sprint(i))
		c := RawCIDOf(data)
		m.put(c, data)
		ents = append(ents, DirEntry{Name: fmt.Sprintf("entry-%06d-%0100d", i, i), Cid: c, Tsize: uint64(len(data))})
	}
	root, _, err := BuildDirectory(ents, func(b Block) error {
		m.put(b.Cid, b.Data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestShardedDirectory(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	root := shardedDir(t, m, 3000)
	links, err := ListDir(ctx, m, root)
	if err != nil || len(links) != 3000 {
		t.Fatalf("ListDir: %d entries, %v", len(links), err)
	}
	seen := map[string]bool{}
	for _, l := range links {
		if seen[l.Name] {
			t.Fatalf("%q listed twice", l.Name)
		}
		seen[l.Name] = true
		c, err := Lookup(ctx, m, root, l.Name)
		if err != nil || !c.Equals(l.Cid) {
			t.Fatalf("Lookup(%q) = %s, %v; want %s", l.Name, c, err, l.Cid)
		}
	}
	var visited []cid.Cid
	name := links[1234].Name
	c, err := ResolveVisit(ctx, m, root, name, func(c cid.Cid, _ []byte) error {
		visited = append(visited, c)
		return nil
	})
	if err != nil || !c.Equals(links[1234].Cid) {
		t.Fatalf("ResolveVisit: %s, %v", c, err)
	}
	if len(visited) < 2 || !visited[0].Equals(root) {
		t.Fatalf("ResolveVisit read %v, want the root shard and the sub-shards under it", visited)
	}
	if _, err := Lookup(ctx, m, root, "missing"); !errors.Is(err, ErrNoLink) {
		t.Fatalf("Lookup of a missing name: %v, want ErrNoLink", err)
	}
	if info, err := Stat(ctx, m, root); err != nil || info.Type != TypeHAMT || !info.IsDir() {
		t.Fatalf("Stat: %+v, %v", info, err)
	}
}

func TestShardOfRejects(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	leaf := RawCIDOf([]byte("x"))
	tests := []struct {
		name  string
		fs    FSData
		links []Link
		want  error
	}{
		{"sha2 hash", FSData{Type: THAMTShard, HashType: u(0x12), Fanout: u(256), Data: []byte{1}}, []Link{{Name: "00a", Cid: leaf}}, ErrHAMT},
		{"no fanout", FSData{Type: THAMTShard, HashType: u(0x22), Data: []byte{1}}, []Link{{Name: "00a", Cid: leaf}}, ErrDecode},
		{"fanout not power of two", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(100)}, nil, ErrHAMT},
		{"lower-case slot", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(256), Data: []byte{0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, []Link{{Name: "5aname", Cid: leaf}}, ErrDecode},
		{"bit not set", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(256), Data: []byte{2}}, []Link{{Name: "00a", Cid: leaf}}, ErrDecode},
		{"extra bits", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(256), Data: []byte{3}}, []Link{{Name: "00a", Cid: leaf}}, ErrDecode},
		{"out of order", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(256), Data: []byte{3}}, []Link{{Name: "01a", Cid: leaf}, {Name: "00b", Cid: leaf}}, ErrDecode},
		{"short name", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(256), Data: []byte{1}}, []Link{{Name: "0", Cid: leaf}}, ErrDecode},
		{"bitfield too wide", FSData{Type: THAMTShard, HashType: u(0x22), Fanout: u(8), Data: []byte{1, 1}}, []Link{{Name: "0a", Cid: leaf}}, ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ShardOf(&Node{FS: &tt.fs, Links: tt.links}); !errors.Is(err, tt.want) {
				t.Fatalf("ShardOf = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecodeShard feeds arbitrary bytes to the HAMT shard decoder and, for
// a shard it accepts, looks a name up and lists the entries through it:
// none may panic, and every accepted slot is within the fanout.
func FuzzDecodeShard(f *testing.F) {
	m := newMemStore()
	root := shardedDir(f, m, 3000)
	data, _ := m.Get(context.Background(), root)
	f.Add(data)
	for _, l := range mustShard(f, root, data).Links {
		if l.IsShard() {
			sub, _ := m.Get(context.Background(), l.Cid)
			f.Add(sub)
			break
		}
	}
	f.Add([]byte{0x0a, 0x02, 0x08, 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NodeCID(data)
		s, err := DecodeShard(c, data)
		if err != nil {
			return
		}
		for _, l := range s.Links {
			if l.Slot < 0 || l.Slot >= s.Fanout {
				t.Fatalf("slot %d outside fanout %d", l.Slot, s.Fanout)
			}
		}
		mm := newMemStore()
		mm.put(c, data)
		_, _ = Lookup(context.Background(), mm, c, "entry-000001")
		_ = EachEntry(context.Background(), mm, c, nil, func(Link) error { return nil })
	})
}

func mustShard(t testing.TB, c cid.Cid, data []byte) *Shard {
	t.Helper()
	s, err := DecodeShard(c, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
