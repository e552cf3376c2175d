package unixfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// Visit is called with every block a directory operation reads, in the
// order it reads them (for a CAR that must carry the blocks on a path).
// It may be nil.
type Visit func(c cid.Cid, data []byte) error

func (v Visit) call(c cid.Cid, data []byte) error {
	if v == nil {
		return nil
	}
	return v(c, data)
}

// getDirNode fetches c and decodes it as a directory, plain or a HAMT
// shard; the shard is nil for a plain directory.
func getDirNode(ctx context.Context, g Getter, c cid.Cid, visit Visit) (*Node, *Shard, error) {
	if c.Type() != CodecDagPB {
		return nil, nil, fmt.Errorf("%s: %w (codec 0x%x)", c, ErrNotDir, c.Type())
	}
	data, err := g.Get(ctx, c)
	if err != nil {
		return nil, nil, blockErr("get directory", c, err)
	}
	n, err := Decode(c, data)
	if err != nil {
		return nil, nil, err
	}
	switch n.FS.Type {
	case TDirectory:
		return n, nil, visit.call(c, data)
	case THAMTShard:
		s, err := ShardOf(n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c, err)
		}
		return n, s, visit.call(c, data)
	}
	return nil, nil, fmt.Errorf("%s: %w (UnixFS %s)", c, ErrNotDir, n.FS.Type)
}

// EachEntry calls fn with every entry of the directory c: in name order
// for a plain directory, in hash order for a HAMT-sharded one (whose
// sub-shards it reads one by one, so memory stays small however many
// entries there are). visit, if set, sees every block read.
func EachEntry(ctx context.Context, g Getter, c cid.Cid, visit Visit, fn func(Link) error) error {
	n, s, err := getDirNode(ctx, g, c, visit)
	if err != nil {
		return err
	}
	if s == nil {
		for _, l := range n.Links {
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	}
	return eachShardEntry(ctx, g, c, s, 0, visit, fn)
}

func eachShardEntry(ctx context.Context, g Getter, c cid.Cid, s *Shard, depth int, visit Visit, fn func(Link) error) error {
	for _, l := range s.Links {
		if !l.IsShard() {
			if err := fn(Link{Name: l.Name, Cid: l.Cid, Tsize: l.Tsize}); err != nil {
				return err
			}
			continue
		}
		sub, err := getSubShard(ctx, g, c, s, l, depth+1, visit)
		if err != nil {
			return err
		}
		if err := eachShardEntry(ctx, g, l.Cid, sub, depth+1, visit, fn); err != nil {
			return err
		}
	}
	return nil
}

// getSubShard fetches the sub-shard l of parent (c, s), at depth, and
// checks that it is a shard of the same fanout within the hash's bits.
func getSubShard(ctx context.Context, g Getter, c cid.Cid, s *Shard, l ShardLink, depth int, visit Visit) (*Shard, error) {
	if (depth+1)*s.width() > 64 {
		return nil, fmt.Errorf("%w: HAMT %s nests deeper than its hash's 64 bits", ErrDecode, c)
	}
	_, sub, err := getDirNode(ctx, g, l.Cid, visit)
	if err != nil {
		return nil, err
	}
	if sub == nil || sub.Fanout != s.Fanout {
		return nil, fmt.Errorf("%w: HAMT %s slot %d links to %s, which is not a shard of fanout %d", ErrDecode, c, l.Slot, l.Cid, s.Fanout)
	}
	return sub, nil
}

// lookup finds the entry name in the directory (n, s) that c is.
func lookup(ctx context.Context, g Getter, c cid.Cid, n *Node, s *Shard, name string, visit Visit) (cid.Cid, bool, error) {
	if s == nil {
		for _, l := range n.Links {
			if l.Name == name {
				return l.Cid, true, nil
			}
		}
		return cid.Undef, false, nil
	}
	h := hamtHash(name)
	for depth := 0; ; depth++ {
		slot, ok := shardIndex(h, depth, s.width())
		if !ok {
			return cid.Undef, false, fmt.Errorf("%w: HAMT %s nests deeper than its hash's 64 bits", ErrDecode, c)
		}
		l, ok := s.find(slot)
		switch {
		case !ok:
			return cid.Undef, false, nil
		case !l.IsShard():
			return l.Cid, l.Name == name, nil
		}
		sub, err := getSubShard(ctx, g, c, s, l, depth+1, visit)
		if err != nil {
			return cid.Undef, false, err
		}
		c, s = l.Cid, sub
	}
}

// Lookup returns the CID of the entry name of the directory c, plain or
// HAMT-sharded, reading only the shards on the way to it. It fails with
// ErrNoLink if there is no such entry.
func Lookup(ctx context.Context, g Getter, c cid.Cid, name string) (cid.Cid, error) {
	n, s, err := getDirNode(ctx, g, c, nil)
	if err != nil {
		return cid.Undef, err
	}
	found, ok, err := lookup(ctx, g, c, n, s, name, nil)
	if err != nil {
		return cid.Undef, err
	}
	if !ok {
		return cid.Undef, fmt.Errorf("%s/%s: %w", c, name, ErrNoLink)
	}
	return found, nil
}

// ResolveVisit is Resolve that also hands visit every block it reads on
// the way (the directories and the shards of HAMTs), in path order; the
// block the path ends at is not read.
func ResolveVisit(ctx context.Context, g Getter, root cid.Cid, path string, visit Visit) (cid.Cid, error) {
	cur := root
	walked := root.String()
	for name := range strings.SplitSeq(path, "/") {
		if name == "" {
			continue
		}
		n, s, err := getDirNode(ctx, g, cur, visit)
		if err != nil {
			if walked == root.String() {
				return cid.Undef, err // the root itself: the caller names it
			}
			return cid.Undef, fmt.Errorf("resolve %s: %w", walked, err)
		}
		next, ok, err := lookup(ctx, g, cur, n, s, name, visit)
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s: %w", walked, err)
		}
		if !ok {
			return cid.Undef, fmt.Errorf("resolve %s/%s: %w", walked, name, ErrNoLink)
		}
		cur = next
		walked += "/" + name
	}
	return cur, nil
}
