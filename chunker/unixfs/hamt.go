package unixfs

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spaolacci/murmur3"
)

// HAMT parameters, as UnixFS specifies them and kubo (boxo) writes them.
const (
	// HashMurmur3 is the multicodec of murmur3-x64-64, the only hash
	// function UnixFS HAMTs use.
	HashMurmur3 = 0x22
	// ShardFanout is the fanout kubo gives every shard it writes.
	ShardFanout = 256
	// ShardThreshold is kubo's HAMTShardingSize: a directory whose
	// estimated node size (EstimatedDirSize) reaches it is sharded.
	ShardThreshold = 256 << 10
	// maxFanout is the widest shard read (boxo's limit).
	maxFanout = 1024
)

// ErrHAMT wraps errors about HAMT-sharded directories that shoal cannot
// read: a hash function other than murmur3 or a fanout it does not know.
var ErrHAMT = errors.New("unsupported HAMT-sharded directory")

// EstimatedDirSize returns kubo's estimate of the size of a plain
// directory node holding entries: the sum of each name's length and its
// CID's byte length. kubo shards a directory whose estimate reaches
// ShardThreshold.
func EstimatedDirSize(entries []DirEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Name) + e.Cid.ByteLen()
	}
	return n
}

// BuildDirectory builds a UnixFS directory holding entries the way `ipfs
// add` does: a plain directory node while EstimatedDirSize stays below
// ShardThreshold, and a HAMT (fanout 256, murmur3-x64-64) from there on.
// It hands every block it builds to emit, the root last, and returns the
// root's CID and the cumulative size a link to it carries.
func BuildDirectory(entries []DirEntry, emit func(Block) error) (cid.Cid, uint64, error) {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range sorted {
		if err := ValidName(e.Name); err != nil {
			return cid.Undef, 0, fmt.Errorf("directory entry %d: %w", i, err)
		}
		if i > 0 && sorted[i-1].Name == e.Name {
			return cid.Undef, 0, fmt.Errorf("%w: duplicate name %q", ErrBadName, e.Name)
		}
		if !e.Cid.Defined() {
			return cid.Undef, 0, fmt.Errorf("directory entry %q: undefined CID", e.Name)
		}
	}
	if EstimatedDirSize(sorted) < ShardThreshold {
		blk, err := NewDirectory(sorted)
		if err != nil {
			return cid.Undef, 0, err
		}
		ts, err := DirTsize(blk)
		if err != nil {
			return cid.Undef, 0, err
		}
		return blk.Cid, ts, emit(blk)
	}
	hs := make([]hashedEntry, len(sorted))
	for i, e := range sorted {
		hs[i] = hashedEntry{DirEntry: e, hash: hamtHash(e.Name)}
	}
	blk, ts, err := buildShard(hs, 0, emit)
	if err != nil {
		return cid.Undef, 0, err
	}
	return blk.Cid, ts, nil
}

type hashedEntry struct {
	DirEntry
	hash uint64
}

// hamtHash is murmur3-x64-64 of name: the first 64 bits of
// murmur3-x64-128 with seed 0, read big-endian as UnixFS does.
func hamtHash(name string) uint64 {
	return murmur3.Sum64([]byte(name))
}

// shardIndex returns the slot of hash at depth in a shard of fanout
// 1<<width: the depth-th group of width bits, most significant first.
// ok is false once the hash's 64 bits are used up.
func shardIndex(hash uint64, depth, width int) (int, bool) {
	end := (depth + 1) * width
	if end > 64 {
		return 0, false
	}
	return int(hash>>(64-end)) & (1<<width - 1), true
}

// buildShard builds the shard node at depth holding ents, emitting it and
// the sub-shards below it.
func buildShard(ents []hashedEntry, depth int, emit func(Block) error) (Block, uint64, error) {
	width := bits.TrailingZeros(ShardFanout)
	slots := make([][]hashedEntry, ShardFanout)
	for _, e := range ents {
		i, ok := shardIndex(e.hash, depth, width)
		if !ok {
			return Block{}, 0, fmt.Errorf("HAMT: names %q and others share all 64 hash bits", e.Name)
		}
		slots[i] = append(slots[i], e)
	}
	field := make([]byte, ShardFanout/8)
	var links []Link
	var tsum uint64
	for i, s := range slots {
		if len(s) == 0 {
			continue
		}
		field[len(field)-1-i/8] |= 1 << (i % 8)
		prefix := shardPrefix(i, ShardFanout)
		if len(s) == 1 {
			links = append(links, Link{Name: prefix + s[0].Name, Cid: s[0].Cid, Tsize: s[0].Tsize})
			tsum += s[0].Tsize
			continue
		}
		sub, ts, err := buildShard(s, depth+1, emit)
		if err != nil {
			return Block{}, 0, err
		}
		links = append(links, Link{Name: prefix, Cid: sub.Cid, Tsize: ts})
		tsum += ts
	}
	// boxo's bitfield drops its leading zero bytes.
	for len(field) > 0 && field[0] == 0 {
		field = field[1:]
	}
	fanout, hash := uint64(ShardFanout), uint64(HashMurmur3)
	fs := &FSData{Type: THAMTShard, Data: field, HashType: &hash, Fanout: &fanout}
	data := EncodePBNode(links, fs.Encode())
	blk := Block{Cid: NodeCID(data), Data: data}
	if err := emit(blk); err != nil {
		return Block{}, 0, err
	}
	return blk, uint64(len(data)) + tsum, nil
}

// shardPrefix is the upper-case hex slot index, padded to the width of
// the largest index, that starts every link name of a shard.
func shardPrefix(i, fanout int) string {
	s := strings.ToUpper(strconv.FormatInt(int64(i), 16))
	return strings.Repeat("0", padLen(fanout)-len(s)) + s
}

func padLen(fanout int) int {
	return len(strconv.FormatInt(int64(fanout-1), 16))
}

// Shard is a decoded HAMT shard node.
type Shard struct {
	Fanout int
	Links  []ShardLink // in stored (slot) order
}

// ShardLink is one link of a shard: an entry of the directory, or (Name
// empty) a sub-shard.
type ShardLink struct {
	Slot  int
	Name  string // the entry's name without the slot prefix; "" for a sub-shard
	Cid   cid.Cid
	Tsize uint64
}

// IsShard reports whether the link points to a sub-shard.
func (l ShardLink) IsShard() bool { return l.Name == "" }

// width returns log2 of the fanout.
func (s *Shard) width() int { return bits.TrailingZeros(uint(s.Fanout)) }

// find returns the link in slot, if any.
func (s *Shard) find(slot int) (ShardLink, bool) {
	i, ok := slices.BinarySearchFunc(s.Links, slot, func(l ShardLink, slot int) int { return l.Slot - slot })
	if !ok {
		return ShardLink{}, false
	}
	return s.Links[i], true
}

// DecodeShard decodes block c as a HAMT shard node.
func DecodeShard(c cid.Cid, data []byte) (*Shard, error) {
	n, err := Decode(c, data)
	if err != nil {
		return nil, err
	}
	s, err := ShardOf(n)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", c, err)
	}
	return s, nil
}

// ShardOf reads a decoded node as a HAMT shard, checking it strictly:
// type HAMTShard, hash murmur3, a power-of-two fanout from 8 to 1024, a
// bitfield no wider than the fanout whose set bits are exactly the slots
// the links name, link names that start with the slot in upper-case hex,
// slots in increasing order, and a valid entry name after the prefix.
func ShardOf(n *Node) (*Shard, error) {
	fs := n.FS
	switch {
	case fs.Type != THAMTShard:
		return nil, fmt.Errorf("%w (UnixFS %s, not a HAMT shard)", ErrNotDir, fs.Type)
	case fs.HashType == nil:
		return nil, fmt.Errorf("%w: HAMT shard without a hash type", ErrDecode)
	case *fs.HashType != HashMurmur3:
		return nil, fmt.Errorf("%w: hash function 0x%x (only murmur3-x64-64, 0x22)", ErrHAMT, *fs.HashType)
	case fs.Fanout == nil:
		return nil, fmt.Errorf("%w: HAMT shard without a fanout", ErrDecode)
	case *fs.Fanout < 8 || *fs.Fanout > maxFanout || *fs.Fanout&(*fs.Fanout-1) != 0:
		return nil, fmt.Errorf("%w: fanout %d (want a power of two from 8 to %d)", ErrHAMT, *fs.Fanout, maxFanout)
	case fs.FileSize != nil || len(fs.BlockSizes) > 0:
		return nil, fmt.Errorf("%w: HAMT shard with file sizes", ErrDecode)
	}
	fanout := int(*fs.Fanout)
	if len(fs.Data) > fanout/8 {
		return nil, fmt.Errorf("%w: HAMT bitfield of %d bytes for fanout %d", ErrDecode, len(fs.Data), fanout)
	}
	pad := padLen(fanout)
	s := &Shard{Fanout: fanout, Links: make([]ShardLink, 0, len(n.Links))}
	for i, l := range n.Links {
		if len(l.Name) < pad {
			return nil, fmt.Errorf("%w: HAMT link %d name %q is shorter than its %d-digit slot", ErrDecode, i, l.Name, pad)
		}
		slot, ok := parseSlot(l.Name[:pad])
		if !ok || slot >= fanout {
			return nil, fmt.Errorf("%w: HAMT link %d name %q does not start with a slot", ErrDecode, i, l.Name)
		}
		if i > 0 && slot <= s.Links[i-1].Slot {
			return nil, fmt.Errorf("%w: HAMT link %d slot %d out of order", ErrDecode, i, slot)
		}
		if !bitSet(fs.Data, slot) {
			return nil, fmt.Errorf("%w: HAMT link %d in slot %d, which the bitfield leaves empty", ErrDecode, i, slot)
		}
		name := l.Name[pad:]
		if name != "" {
			if err := ValidName(name); err != nil {
				return nil, fmt.Errorf("%w: HAMT link %d: %v", ErrDecode, i, err)
			}
		}
		s.Links = append(s.Links, ShardLink{Slot: slot, Name: name, Cid: l.Cid, Tsize: l.Tsize})
	}
	set := 0
	for _, b := range fs.Data {
		set += bits.OnesCount8(b)
	}
	if set != len(s.Links) {
		return nil, fmt.Errorf("%w: HAMT bitfield has %d slots set for %d links", ErrDecode, set, len(s.Links))
	}
	return s, nil
}

// parseSlot parses an upper-case hex slot number.
func parseSlot(s string) (int, bool) {
	v := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			v = v*16 + int(r-'0')
		case r >= 'A' && r <= 'F':
			v = v*16 + int(r-'A') + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// bitSet reports bit i of a bitfield stored as boxo stores it: bit 0 is the
// lowest bit of the last byte; leading zero bytes may be missing.
func bitSet(field []byte, i int) bool {
	k := len(field) - 1 - i/8
	return k >= 0 && field[k]&(1<<(i%8)) != 0
}
