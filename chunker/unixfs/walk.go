package unixfs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// ErrNotDir is returned when a directory operation meets something else.
var ErrNotDir = errors.New("not a directory")

// ErrNoLink is returned by Resolve when a path component names no entry.
var ErrNoLink = errors.New("no such entry")

// Type is what a CID points to, as Stat reports it.
type Type int

// The kinds Stat tells apart.
const (
	TypeRaw Type = iota + 1
	TypeFile
	TypeDirectory
	TypeSymlink
	TypeHAMT
	TypeOther
)

// String returns the kind's name.
func (t Type) String() string {
	switch t {
	case TypeRaw:
		return "raw"
	case TypeFile:
		return "file"
	case TypeDirectory:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeHAMT:
		return "hamt-directory"
	case TypeOther:
		return "other"
	}
	return "unknown"
}

// Info describes a block as Stat sees it.
type Info struct {
	Type Type
	// Size is the file's length in bytes (raw blocks and files), the
	// target's length for a symlink, 0 for directories.
	Size uint64
	// BlockSize is the length of the block itself.
	BlockSize int
	// CumulativeSize is the block's length plus its links' Tsize.
	CumulativeSize uint64
	// Links is the number of links of the node.
	Links int
}

// IsDir reports whether the block is a directory (plain or HAMT-sharded).
func (i Info) IsDir() bool { return i.Type == TypeDirectory || i.Type == TypeHAMT }

// Stat fetches c and describes it.
func Stat(ctx context.Context, g Getter, c cid.Cid) (Info, error) {
	data, err := g.Get(ctx, c)
	if err != nil {
		return Info{}, blockErr("stat", c, err)
	}
	switch c.Type() {
	case CodecRaw:
		return Info{Type: TypeRaw, Size: uint64(len(data)), BlockSize: len(data), CumulativeSize: uint64(len(data))}, nil
	case CodecDagPB:
	default:
		return Info{}, fmt.Errorf("stat %s: %w 0x%x", c, ErrCodec, c.Type())
	}
	n, err := Decode(c, data)
	if err != nil {
		return Info{}, fmt.Errorf("stat: %w", err)
	}
	info := Info{BlockSize: len(data), CumulativeSize: uint64(len(data)), Links: len(n.Links)}
	for _, l := range n.Links {
		info.CumulativeSize += l.Tsize
	}
	switch n.FS.Type {
	case TFile, TRaw:
		info.Type = TypeFile
		if err := checkFileNode(c, n); err != nil {
			return Info{}, fmt.Errorf("stat: %w", err)
		}
		info.Size = n.FS.Size()
		if n.FS.FileSize == nil {
			info.Size = uint64(len(n.FS.Data))
		}
	case TDirectory:
		info.Type = TypeDirectory
	case TSymlink:
		info.Type = TypeSymlink
		info.Size = uint64(len(n.FS.Data))
	case THAMTShard:
		info.Type = TypeHAMT
	default:
		info.Type = TypeOther
	}
	return info, nil
}

// ListDir returns the entries of the directory c, plain (in stored
// order) or HAMT-sharded (in hash order).
func ListDir(ctx context.Context, g Getter, c cid.Cid) ([]Link, error) {
	var out []Link
	err := EachEntry(ctx, g, c, nil, func(l Link) error {
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return out, nil
}

// Resolve follows a slash-separated path of entry names from root, through
// plain and HAMT-sharded directories, and returns the CID it names. Empty
// components (leading, trailing or double slashes) are skipped, so ""
// resolves to root itself.
func Resolve(ctx context.Context, g Getter, root cid.Cid, path string) (cid.Cid, error) {
	return ResolveVisit(ctx, g, root, path, nil)
}

// walkPrefetch is how many blocks Walk fetches ahead of fn.
const walkPrefetch = 16

type walkFetch struct {
	done chan struct{}
	data []byte
	err  error
}

// Walk calls fn for every block of the DAG under root, root first, each
// distinct CID once, in depth-first link order. Raw blocks have no links;
// dag-pb blocks are decoded with Links (they need not be UnixFS). The next
// blocks in walk order are fetched concurrently ahead of fn. It stops at
// the first error from g, the decoder or fn. An identity-hashed CID is
// not fetched: fn gets the bytes it carries.
func Walk(ctx context.Context, g Getter, root cid.Cid, fn func(c cid.Cid, data []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := map[string]struct{}{}
	inflight := map[string]*walkFetch{}
	stack := []cid.Cid{root}
	start := func(c cid.Cid) *walkFetch {
		f := &walkFetch{done: make(chan struct{})}
		if data, ok := IdentityData(c); ok {
			f.data = data
			close(f.done)
			return f
		}
		go func() {
			defer close(f.done)
			f.data, f.err = g.Get(ctx, c)
		}()
		return f
	}
	for len(stack) > 0 {
		// Start fetches for the blocks that will be visited next.
		for i, n := len(stack)-1, 0; i >= 0 && n < walkPrefetch; i-- {
			k := stack[i].KeyString()
			if _, ok := seen[k]; ok {
				continue
			}
			n++
			if _, ok := inflight[k]; !ok {
				inflight[k] = start(stack[i])
			}
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := c.KeyString()
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		f := inflight[k]
		delete(inflight, k)
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return blockErr("walk: get", c, f.err)
		}
		links, err := Links(c, f.data)
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		if err := fn(c, f.data); err != nil {
			return err
		}
		for i := len(links) - 1; i >= 0; i-- {
			if _, ok := seen[links[i].KeyString()]; !ok {
				stack = append(stack, links[i])
			}
		}
	}
	return nil
}

// blockErr is err from getting block c, told as what c failed, unless err
// already names c (a store's "block CID: not found"), which is enough:
// an error that repeats one CID three times helps nobody.
func blockErr(what string, c cid.Cid, err error) error {
	if strings.Contains(err.Error(), c.String()) {
		return err
	}
	return fmt.Errorf("%s %s: %w", what, c, err)
}
