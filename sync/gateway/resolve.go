package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// resolved is a request path walked down to its target.
type resolved struct {
	root   cid.Cid
	target cid.Cid
	// roots are the CIDs of each logical root along the path (the
	// request's CID, then one per name), for X-Ipfs-Roots.
	roots []cid.Cid
	// path holds the blocks read to walk the path (directories and HAMT
	// shards), in order; kept only for a CAR, which must carry them.
	path []unixfs.Block
}

func (r resolved) rootsHeader() string {
	s := make([]string, len(r.roots))
	for i, c := range r.roots {
		s[i] = c.String()
	}
	return strings.Join(s, ",")
}

// resolve walks p's names from its CID through plain and HAMT-sharded
// directories, keeping the blocks on the way when keep is set.
func (h *Handler) resolve(ctx context.Context, g needGetter, p contentPath, keep bool) (resolved, error) {
	res := resolved{root: p.root, target: p.root, roots: []cid.Cid{p.root}}
	var visit unixfs.Visit
	if keep {
		visit = func(c cid.Cid, data []byte) error {
			res.path = append(res.path, unixfs.Block{Cid: c, Data: data})
			return nil
		}
	}
	for _, name := range p.elems {
		next, err := unixfs.ResolveVisit(ctx, g, res.target, name, visit)
		if err != nil {
			return resolved{}, err
		}
		res.target = next
		res.roots = append(res.roots, next)
	}
	return res, nil
}

// checkCID refuses, before anything is read, a CID this node can never
// hold: shoal stores raw (0x55) and dag-pb (0x70) blocks hashed with
// sha2-256, and serves identity CIDs from the CID itself.
func checkCID(c cid.Cid) error {
	pre := c.Prefix()
	if pre.Codec != unixfs.CodecRaw && pre.Codec != unixfs.CodecDagPB {
		name := unixfs.CodecName(pre.Codec)
		return fmt.Errorf("%w: %s has codec %s (0x%x); shoal stores and serves only raw (0x55) and dag-pb (0x70) blocks", errUnsupportedCID, c, name, pre.Codec)
	}
	if pre.MhType != mh.SHA2_256 && pre.MhType != mh.IDENTITY {
		name := mh.Codes[pre.MhType]
		if name == "" {
			name = "unknown"
		}
		return fmt.Errorf("%w: %s is hashed with %s (0x%x); shoal stores only sha2-256 blocks (and serves identity CIDs)", errUnsupportedCID, c, name, pre.MhType)
	}
	return nil
}
