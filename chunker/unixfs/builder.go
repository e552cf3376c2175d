package unixfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
)

// MaxLinks is the most links kubo's balanced layout puts in one file node.
const MaxLinks = 174

// MaxNodeSize is the largest directory node NewDirectory will build
// (BuildDirectory shards long before a directory gets there).
const MaxNodeSize = 1 << 20

// EmptyRawCID is the CID of the empty raw block, which is also the CID of
// an empty file.
var EmptyRawCID = RawCIDOf(nil)

// ErrTooLarge is returned by NewDirectory for a directory whose node
// would exceed MaxNodeSize; BuildDirectory shards such a directory.
var ErrTooLarge = errors.New("directory node too large for one block")

// ErrBadName is wrapped by errors about an invalid directory entry name.
var ErrBadName = errors.New("invalid entry name")

// pending is a finished child waiting in an open node: its link and the
// number of file bytes under it.
type pending struct {
	c     cid.Cid
	tsize uint64
	size  uint64
}

// FileBuilder assembles a file's DAG from leaves given in order; it calls emit for each internal node it creates (never for leaves, which the caller stores).
//
// It keeps only the open nodes on the right edge of the tree (at most
// MaxLinks children per level), so memory grows with the logarithm of the
// file size. The result equals kubo's balanced layout.
type FileBuilder struct {
	emit   func(Block) error
	levels [][]pending // levels[0] holds leaves, levels[i] nodes of height i
	err    error
	done   bool
}

// NewFileBuilder returns a builder that hands each internal node to emit.
func NewFileBuilder(emit func(Block) error) *FileBuilder {
	return &FileBuilder{emit: emit}
}

// Add appends the next leaf of the file, of size bytes.
func (b *FileBuilder) Add(leaf cid.Cid, size uint64) error {
	if b.err != nil {
		return b.err
	}
	if b.done {
		return errors.New("unixfs: FileBuilder.Add after Finish")
	}
	if err := b.push(0, pending{c: leaf, tsize: size, size: size}); err != nil {
		b.err = err
		return err
	}
	return nil
}

// push appends p to level i, first closing that level into a node one
// level up when it is already full (kubo only closes a full node when more
// data follows).
func (b *FileBuilder) push(i int, p pending) error {
	if i == len(b.levels) {
		// Most files are a few chunks: a level grows as it fills (to
		// MaxLinks at most, then reused), rather than taking 7 KiB for
		// every file a scan adds.
		b.levels = append(b.levels, make([]pending, 0, 4))
	}
	if len(b.levels[i]) == MaxLinks {
		if err := b.close(i); err != nil {
			return err
		}
	}
	b.levels[i] = append(b.levels[i], p)
	return nil
}

// close turns the children at level i into a file node and pushes it to
// level i+1.
func (b *FileBuilder) close(i int) error {
	kids := b.levels[i]
	n, err := fileNode(kids)
	if err != nil {
		return err
	}
	blk, tsize, size := n.blk, n.tsize, n.size
	if err := b.emit(blk); err != nil {
		return fmt.Errorf("store file node %s: %w", blk.Cid, err)
	}
	b.levels[i] = kids[:0]
	return b.push(i+1, pending{c: blk.Cid, tsize: tsize, size: size})
}

type builtNode struct {
	blk         Block
	tsize, size uint64
}

func fileNode(kids []pending) (builtNode, error) {
	links := make([]Link, len(kids))
	sizes := make([]uint64, len(kids))
	var total, tsum uint64
	for j, k := range kids {
		links[j] = Link{Cid: k.c, Tsize: k.tsize}
		sizes[j] = k.size
		total += k.size
		tsum += k.tsize
	}
	fs := &FSData{Type: TFile, FileSize: &total, BlockSizes: sizes}
	data := EncodePBNode(links, fs.Encode())
	return builtNode{
		blk:   Block{Cid: NodeCID(data), Data: data},
		tsize: uint64(len(data)) + tsum,
		size:  total,
	}, nil
}

// Finish closes the open nodes and returns the file's root CID and the
// cumulative size of its DAG. A single leaf is its own root; a file with no
// leaves is the empty raw block (the caller stores that block).
func (b *FileBuilder) Finish() (root cid.Cid, tsize uint64, err error) {
	if b.err != nil {
		return cid.Undef, 0, b.err
	}
	if b.done {
		return cid.Undef, 0, errors.New("unixfs: FileBuilder.Finish called twice")
	}
	b.done = true
	if len(b.levels) == 0 {
		return EmptyRawCID, 0, nil
	}
	for i := 0; i < len(b.levels); i++ {
		if len(b.levels[i]) == 0 {
			continue
		}
		if i == len(b.levels)-1 && len(b.levels[i]) == 1 {
			p := b.levels[i][0]
			return p.c, p.tsize, nil
		}
		if err := b.close(i); err != nil {
			b.err = err
			return cid.Undef, 0, err
		}
	}
	return cid.Undef, 0, errors.New("unixfs: FileBuilder lost its root") // unreachable
}

// DirEntry is one entry of a directory being built.
type DirEntry struct {
	Name  string
	Cid   cid.Cid
	Tsize uint64
}

// ValidName reports whether name may be a UnixFS directory entry: not
// empty, not "." or "..", and without "/" or NUL.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrBadName, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q contains '/' or NUL", ErrBadName, name)
	}
	return nil
}

// NewDirectory builds a UnixFS directory node holding entries, sorted
// bytewise by name as kubo does. Names are validated and must be unique.
// The link Tsize of each entry is the caller's; the directory's own
// cumulative size is len(Data) plus their sum.
func NewDirectory(entries []DirEntry) (Block, error) {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	links := make([]Link, len(sorted))
	size := 0
	for i, e := range sorted {
		if err := ValidName(e.Name); err != nil {
			return Block{}, fmt.Errorf("directory entry %d: %w", i, err)
		}
		if i > 0 && sorted[i-1].Name == e.Name {
			return Block{}, fmt.Errorf("%w: duplicate name %q", ErrBadName, e.Name)
		}
		if !e.Cid.Defined() {
			return Block{}, fmt.Errorf("directory entry %q: undefined CID", e.Name)
		}
		links[i] = Link(e)
		size += linkSize(links[i]) + 3
		if size > MaxNodeSize {
			return Block{}, fmt.Errorf("directory of %d entries: %w", len(entries), ErrTooLarge)
		}
	}
	fs := &FSData{Type: TDirectory}
	data := EncodePBNode(links, fs.Encode())
	if len(data) > MaxNodeSize {
		return Block{}, fmt.Errorf("directory of %d entries (%d bytes): %w", len(entries), len(data), ErrTooLarge)
	}
	return Block{Cid: NodeCID(data), Data: data}, nil
}

// DirTsize returns the cumulative size a link to the directory blk should
// carry: the node's length plus its links' Tsize.
func DirTsize(blk Block) (uint64, error) {
	pb, err := DecodePBNode(blk.Data)
	if err != nil {
		return 0, err
	}
	t := uint64(len(blk.Data))
	for _, l := range pb.Links {
		t += l.Tsize
	}
	return t, nil
}
