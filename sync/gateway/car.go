package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
)

// serveCAR serves the blocks on res's path and those dag-scope and
// entity-bytes select under its target as a CAR v1 (order=dfs), streamed
// as the blocks arrive. The target block must be there before the
// headers go (404 otherwise); a block missing later resets the response,
// so a client can never take a cut CAR for a whole one.
func (h *Handler) serveCAR(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, res resolved, cp carParams) {
	c := res.target
	data, err := g.Get(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	opt := dag.CAROptions{Roots: []cid.Cid{res.root}, Path: res.path, Scope: cp.scope, Dups: cp.dups}
	size, isFile, err := fileSize(c, data)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cp.rng != nil && isFile {
		if cp.rng.outside(size) {
			h.fail(w, r, fmt.Errorf("%w: entity-bytes=%s starts past the end of the %d-byte file", errBadFormat, cp.rawRange, size))
			return
		}
		if from, to, ok := cp.rng.resolve(size); ok {
			opt.Range = &dag.ByteRange{From: from, To: to}
		} else {
			// A range that holds no byte: the root alone tells why.
			opt.Scope = dag.ScopeBlock
		}
	}
	etag := carETag(res, cp)
	setImmutable(w, etag)
	dups := "n"
	if cp.dups {
		dups = "y"
	}
	w.Header().Set("Content-Type", mediaCAR+"; version=1; order=dfs; dups="+dups)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Accept-Ranges", "none")
	setDownload(w, r, c.String()+".car")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	// A whole DAG (or a whole file) streams from the source's fetch of it;
	// the narrower scopes fetch only the blocks they name, one by one.
	whole := opt.Scope == dag.ScopeAll || (opt.Scope == dag.ScopeEntity && isFile && opt.Range == nil)
	if whole && !g.local {
		if g, err = h.needWhole(ctx, r, c); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	if err := dag.WriteCAR(r.Context(), g, c, w, opt); err != nil {
		h.abort(r, err)
	}
}

// fileSize returns the size of the UnixFS file block c is, if it is one.
func fileSize(c cid.Cid, data []byte) (int64, bool, error) {
	if c.Type() == unixfs.CodecRaw {
		return int64(len(data)), true, nil
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		return 0, false, err
	}
	switch n.FS.Type {
	case unixfs.TFile, unixfs.TRaw:
		if n.FS.FileSize == nil {
			return int64(len(n.FS.Data)), true, nil
		}
		return int64(n.FS.Size()), true, nil
	}
	return 0, false, nil
}

// carETag is the target's CID with ".car" and a digest of everything
// else that shapes the CAR (the path, scope, range and dups), so that no
// two different CARs share an ETag. The bytes are deterministic (dfs, in
// link order), so the tag is strong.
func carETag(res resolved, cp carParams) string {
	h := sha256.New()
	for _, c := range res.roots {
		h.Write(c.Bytes())
	}
	fmt.Fprintf(h, "\x00scope=%s\x00bytes=%s\x00dups=%s", cp.scope, cp.rawRange, strconv.FormatBool(cp.dups))
	return `"` + res.target.String() + ".car." + hex.EncodeToString(h.Sum(nil)[:8]) + `"`
}
